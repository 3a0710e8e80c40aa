"""Fit the opinion-unit polarity reader (nlp.aspects.polarity) on ../shared/data/absa and write
data/aspects/polarity.json.

Run: ``.venv/bin/python -m training.aspect_polarity [--model models/default] [--out FILE]``

- **Fitted on** the restaurant dev sentences: each annotated aspect term our units find, with its
  negative / neutral / positive label, in a unit that is a clause of a longer sentence (a unit that
  is its whole sentence keeps the sentence's reading in the pipeline, so it is no example). Neutral
  is rare there; how far the classes are balanced is chosen by cross-validation on these rows.
- **Measured on** the restaurant test sentences (macro-F1 and F1 by label), next to the plain mix of
  ``AspectConfig`` it replaces; the figures go into the file.

The product sets of the folder (phone, camera, car, notebook) are single clauses, which the reader
never reads; bench/absa.py measures them. The features are the model's readings of a unit and of its
sentence (which the pipeline computes anyway) and its opinion word, so the fit takes about three
minutes on a CPU, most of it running the pipeline.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.class_weight import compute_sample_weight

from nlp.aspects.polarity import POLARITY_FILE, UnitPolarity, unit_features
from nlp.aspects.units import is_whole
from nlp.config import AspectConfig, PipelineConfig, RedactionConfig, SentimentConfig
from nlp.normalize import normalize
from nlp.pipeline import Pipeline, build_pipeline
from nlp.resources import data_path
from nlp.schema import LABELS, Item
from training.absa import ABSA, read_restaurant, term_aspect

ROOT = Path(__file__).resolve().parents[1]
C = 1.0  # inverse L2 strength
BALANCES = (0.0, 0.5, 1.0)  # how far the classes are balanced (see choose_balance)
FOLDS = 5
SEED = 20261201


@dataclass
class Rows:
    """Features and labels of annotated units, with the label the plain mix gives each."""

    features: list[list[float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    mixed: list[str] = field(default_factory=list)

    def add(self, features: list[float], label: str, mixed: str) -> None:
        self.features.append(features)
        self.labels.append(label)
        self.mixed.append(mixed)

    def subset(self, keep: Sequence[int]) -> Rows:
        return Rows([self.features[k] for k in keep], [self.labels[k] for k in keep], [self.mixed[k] for k in keep])


def restaurant_rows(pipeline: Pipeline, split: str) -> Rows:
    """The rows of ``chinese_zhang_{split}``: annotated terms read by a clause of a longer sentence."""
    data = read_restaurant(ABSA, [split])
    results = list(pipeline.pipe(Item(f"a{i}", "survey", text) for i, (text, _) in enumerate(data)))
    matched = []
    for (text, triplets), result in zip(data, results, strict=True):
        for t in triplets:
            if not t.names_a_term:
                continue
            aspect = term_aspect(result.aspects, t.aspect)
            if aspect is not None and not is_whole(aspect.text, text):
                matched.append((result, aspect, t.polarity))
    units = sorted({normalize(a.text) for _, a, _ in matched})
    own = dict(zip(units, pipeline.scorer.score(units), strict=True))
    assert pipeline.aspects is not None, "the pipeline reads opinion units"
    polarity = pipeline.aspects.lexicon.polarity
    rows = Rows()
    for result, aspect, label in matched:
        text = normalize(aspect.text)
        features = unit_features(own[text], result.sentiment, text, aspect.term, aspect.opinion, polarity)
        rows.add(features, label, aspect.label)
    return rows


def fit(rows: Rows, balance: float) -> LogisticRegression:
    """The regression; a row weighs its class's balancing weight ** ``balance`` (0: as found, 1: every
    class as heavy, however rare)."""
    model = LogisticRegression(C=C, max_iter=5000)
    model.fit(
        np.array(rows.features), rows.labels, sample_weight=compute_sample_weight("balanced", rows.labels) ** balance
    )
    return model


def choose_balance(rows: Rows) -> tuple[float, dict[str, float]]:
    """The ``BALANCES`` value with the best macro-F1 over ``FOLDS`` folds: balancing trades the common
    classes' F1 for the rare neutral one's, and how far to go is measured, not guessed."""
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    scores = {}
    for balance in BALANCES:
        predicted = np.empty(len(rows.labels), dtype=object)
        for train, held in folds.split(rows.features, rows.labels):
            predicted[held] = fit(rows.subset(train), balance).predict(np.array([rows.features[k] for k in held]))
        scores[str(balance)] = round(float(f1_score(rows.labels, list(predicted), labels=LABELS, average="macro")), 4)
    return max(BALANCES, key=lambda b: scores[str(b)]), scores


def as_reader(model: LogisticRegression, version: str) -> UnitPolarity:
    """The fitted regression as the pipeline's reader (rows in the order of ``LABELS``)."""
    order = [list(model.classes_).index(label) for label in LABELS]
    return UnitPolarity(
        version,
        tuple(tuple(float(w) for w in model.coef_[k]) for k in order),
        tuple(float(model.intercept_[k]) for k in order),
    )


def figures(reader: UnitPolarity, rows: Rows) -> dict[str, Any]:
    """Held-out figures of the fitted reader next to the plain mix's."""
    read = [LABELS[int(np.argmax(reader.probabilities(f)))] for f in rows.features]
    out: dict[str, Any] = {"restaurant_test_units": len(rows.labels)}
    for name, predicted in (("", read), ("_mixed", rows.mixed)):
        macro = f1_score(rows.labels, predicted, labels=LABELS, average="macro")
        by_label = f1_score(rows.labels, predicted, labels=LABELS, average=None)
        out[f"restaurant_test_macro_f1{name}"] = round(float(macro), 4)
        out[f"restaurant_test_f1_by_label{name}"] = dict(
            zip(LABELS, (round(float(f), 4) for f in by_label), strict=True)
        )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--out", type=Path, default=data_path(*POLARITY_FILE))
    args = parser.parse_args(argv)
    from nlp.sentiment.transformer import TransformerScorer

    scorer = TransformerScorer.load(args.model, SentimentConfig())
    # The plain mix (fitted_polarity off) is what the features are read next to and measured against.
    config = PipelineConfig(redaction=RedactionConfig(person_names=False), aspects=AspectConfig(fitted_polarity=False))
    pipeline = build_pipeline(config, scorer=scorer)
    rows = restaurant_rows(pipeline, "dev")
    balance, cross_validated = choose_balance(rows)
    reader = as_reader(fit(rows, balance), scorer.version)
    measured = figures(reader, restaurant_rows(pipeline, "test"))
    meta = {
        "fitted_on": f"../shared/data/absa/chinese_zhang_dev.csv: {len(rows.labels)} units; logistic regression, C {C}",
        "class_balance": balance,
        "cross_validated_macro_f1": cross_validated,
        "figures": measured,
    }
    UnitPolarity(reader.model_version, reader.coef, reader.intercept, meta).save(args.out)
    print(f"wrote {args.out} for {scorer.version}: {measured}")


if __name__ == "__main__":
    main()
