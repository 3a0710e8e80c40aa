"""Fitting the opinion-unit polarity reader (training/aspect_polarity.py) on rows of features."""

from __future__ import annotations

import numpy as np

from nlp.aspects.polarity import FEATURES
from nlp.schema import LABELS
from training.aspect_polarity import Rows, as_reader, choose_balance, fit


def _rows(n: int, labels: tuple[str, ...], seed: int) -> Rows:
    """Rows whose label is read off the first three features (a noisy log-probability per label)."""
    rng = np.random.default_rng(seed)
    rows = Rows()
    for i in range(n):
        label = labels[i % len(labels)]
        own = rng.normal(0.0, 0.5, 3)
        own[LABELS.index(label)] += 2.0
        rows.add([*own, *rng.normal(0.0, 1.0, len(FEATURES) - 3)], label, label)
    return rows


def test_the_reader_gives_the_regressions_probabilities_in_label_order() -> None:
    rows = _rows(150, ("positive", "positive", "negative", "neutral"), seed=1)
    model = fit(rows, balance=0.5)
    reader = as_reader(model, "e5s-test")
    x = np.array(rows.features[:10])
    expected = model.predict_proba(x)[:, [list(model.classes_).index(label) for label in LABELS]]
    assert np.allclose([reader.probabilities(list(row)) for row in x], expected, atol=1e-9)
    assert reader.model_version == "e5s-test"


def test_the_class_balance_is_chosen_by_cross_validation() -> None:
    # Neutral is one row in ten, and the rows of each class are apart: the folds find all three.
    rows = _rows(200, ("positive",) * 6 + ("negative",) * 3 + ("neutral",), seed=3)
    balance, scores = choose_balance(rows)
    assert set(scores) == {"0.0", "0.5", "1.0"}
    assert scores[str(balance)] == max(scores.values())
    assert all(0.5 < v <= 1.0 for v in scores.values())
