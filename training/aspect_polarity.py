"""Fit the opinion-unit polarity reader (nlp.aspects.polarity) on ../shared/data/absa and write
data/aspects/polarity.json.

Run: ``.venv/bin/python -m training.aspect_polarity [--model models/default] [--out FILE]``

- **Fitted on** the restaurant dev sentences (each annotated aspect term our units find, with its
  negative / neutral / positive label; classes balanced as far as cross-validation on them says, so
  the rare neutral one counts) and the
  product training sets (phone, camera, car, notebook: positive / negative) at ``PRODUCT_WEIGHT`` a
  row, so that the reader is not a restaurant one only.
- **Measured on** the restaurant test sentences (macro-F1 over the three labels) and the product test
  sets (accuracy), next to the plain mix of ``AspectConfig`` it replaces; the figures go into the file.

The features are the model's readings of a unit and of its sentence (what the pipeline computes
anyway), so the fit takes a few minutes on a CPU: most of it is running the pipeline.
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
from nlp.config import AspectConfig, PipelineConfig, RedactionConfig, SentimentConfig
from nlp.normalize import normalize
from nlp.pipeline import Pipeline, build_pipeline
from nlp.resources import data_path
from nlp.schema import LABELS, Item
from training.absa import PRODUCT_DOMAINS, read_products, read_restaurant, term_aspect, unit_aspect

ROOT = Path(__file__).resolve().parents[1]
ABSA = ROOT.parent / "shared" / "data" / "absa"
PRODUCT_WEIGHT = 0.1  # a product row's weight next to a restaurant row
C = 1.0  # inverse L2 strength
BALANCES = (0.0, 0.5, 1.0)  # how far the restaurant classes are balanced (see choose_balance)
FOLDS = 5
SEED = 20261201


@dataclass
class Rows:
    """Features, labels and the plain mix's labels of annotated units; ``domains`` for product rows."""

    features: list[list[float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    mixed: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)

    def add(self, features: list[float], label: str, mixed: str, domain: str) -> None:
        self.features.append(features)
        self.labels.append(label)
        self.mixed.append(mixed)
        self.domains.append(domain)


def _rows(
    pipeline: Pipeline, texts: Sequence[str], found: Sequence[tuple[int, str, str]], domains: Sequence[str]
) -> Rows:
    """Features of the units that read an annotated term; ``found`` is (sentence, term, label). A
    restaurant term is matched by the aspects' terms, a product term by the unit that holds it."""
    results = list(pipeline.pipe(Item(f"a{i}", "survey", t) for i, t in enumerate(texts)))
    assert pipeline.aspects is not None, "the pipeline reads opinion units"
    polarity = pipeline.aspects.lexicon.polarity
    matched = []
    for (i, term, label), domain in zip(found, domains, strict=True):
        aspects = results[i].aspects
        aspect = term_aspect(aspects, term) if domain == "restaurant" else unit_aspect(aspects, term)
        if aspect is not None:
            matched.append((i, aspect, label, domain))
    units = sorted({normalize(a.text) for _, a, _, _ in matched})
    own = dict(zip(units, pipeline.scorer.score(units), strict=True))
    rows = Rows()
    for i, aspect, label, domain in matched:
        text = normalize(aspect.text)
        features = unit_features(own[text], results[i].sentiment, text, aspect.term, aspect.opinion, polarity)
        probabilities = aspect.sentiment.probabilities
        mixed = aspect.label if domain == "restaurant" or not probabilities else _binary(list(probabilities.values()))
        rows.add(features, label, mixed, domain)
    return rows


def restaurant_rows(pipeline: Pipeline, split: str) -> Rows:
    data = read_restaurant(ABSA, [split])
    found = [
        (i, t.aspect, t.polarity)
        for i, (_, triplets) in enumerate(data)
        for t in triplets
        if t.aspect not in ("NULL", "") and t.polarity in LABELS
    ]
    return _rows(pipeline, [text for text, _ in data], found, ["restaurant"] * len(found))


def product_rows(pipeline: Pipeline, split: str) -> Rows:
    data = read_products(ABSA, split)
    found = [(i, p.term, p.polarity) for i, p in enumerate(data)]
    return _rows(pipeline, [p.text for p in data], found, [p.domain for p in data])


def fit(restaurant: Rows, products: Rows, balance: float) -> LogisticRegression:
    """The regression on both sets; a restaurant row weighs its class's balancing weight ** ``balance``
    (0: as found, 1: every class as heavy, however rare)."""
    weights = np.concatenate(
        [compute_sample_weight("balanced", restaurant.labels) ** balance, np.full(len(products.labels), PRODUCT_WEIGHT)]
    )
    x = np.array(restaurant.features + products.features)
    model = LogisticRegression(C=C, max_iter=5000)
    model.fit(x, restaurant.labels + products.labels, sample_weight=weights)
    return model


def choose_balance(restaurant: Rows, products: Rows) -> tuple[float, dict[str, float]]:
    """The ``BALANCES`` value with the best macro-F1 over ``FOLDS`` folds of the restaurant rows (the
    product rows train every fold): neutral is rare there, so balancing trades the other classes'
    F1 for neutral's, and how far to go is measured, not guessed."""
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    scores = {}
    for balance in BALANCES:
        predicted = np.empty(len(restaurant.labels), dtype=object)
        for train, held in folds.split(restaurant.features, restaurant.labels):
            part = Rows(
                *([getattr(restaurant, f)[k] for k in train] for f in ("features", "labels", "mixed", "domains"))
            )
            model = fit(part, products, balance)
            predicted[held] = model.predict(np.array([restaurant.features[k] for k in held]))
        scores[str(balance)] = round(
            float(f1_score(restaurant.labels, list(predicted), labels=LABELS, average="macro")), 4
        )
    best = max(BALANCES, key=lambda b: scores[str(b)])
    return best, scores


def as_reader(model: LogisticRegression, version: str) -> UnitPolarity:
    """The fitted regression as the pipeline's reader (rows in the order of ``LABELS``)."""
    order = [list(model.classes_).index(label) for label in LABELS]
    return UnitPolarity(
        version,
        tuple(tuple(float(w) for w in model.coef_[k]) for k in order),
        tuple(float(model.intercept_[k]) for k in order),
    )


def figures(reader: UnitPolarity, restaurant: Rows, products: Rows) -> dict[str, Any]:
    """Held-out figures of the fitted reader next to the plain mix's."""
    read = [LABELS[int(np.argmax(reader.probabilities(f)))] for f in restaurant.features]
    out: dict[str, Any] = {
        "restaurant_test_units": len(restaurant.labels),
        "restaurant_test_macro_f1": round(float(f1_score(restaurant.labels, read, labels=LABELS, average="macro")), 4),
        "restaurant_test_macro_f1_mixed": round(
            float(f1_score(restaurant.labels, restaurant.mixed, labels=LABELS, average="macro")), 4
        ),
    }
    for name, predicted in (("", read), ("_mixed", restaurant.mixed)):
        by_label = f1_score(restaurant.labels, predicted, labels=LABELS, average=None)
        out[f"restaurant_test_f1_by_label{name}"] = dict(
            zip(LABELS, (round(float(f), 4) for f in by_label), strict=True)
        )
    for domain in PRODUCT_DOMAINS:
        rows = [k for k, d in enumerate(products.domains) if d == domain]
        ours = [_binary(reader.probabilities(products.features[k])) for k in rows]
        for name, predicted in (("", ours), ("_mixed", [products.mixed[k] for k in rows])):
            right = sum(p == products.labels[k] for p, k in zip(predicted, rows, strict=True))
            out[f"{domain}_test_accuracy{name}"] = round(right / len(rows), 4)
    return out


def _binary(probabilities: Sequence[float]) -> str:
    """Negative or positive, whichever is likelier (the product sets have no neutral)."""
    by_label = dict(zip(LABELS, probabilities, strict=True))
    return "negative" if by_label["negative"] > by_label["positive"] else "positive"


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
    restaurant, products = restaurant_rows(pipeline, "dev"), product_rows(pipeline, "train")
    balance, cross_validated = choose_balance(restaurant, products)
    reader = as_reader(fit(restaurant, products, balance), scorer.version)
    measured = figures(reader, restaurant_rows(pipeline, "test"), product_rows(pipeline, "test"))
    meta = {
        "fitted_on": "../shared/data/absa: chinese_zhang_dev + {phone,camera,car,notebook}_train"
        f" (weight {PRODUCT_WEIGHT}); logistic regression, C {C}",
        "class_balance": balance,
        "cross_validated_macro_f1": cross_validated,
        "figures": measured,
    }
    UnitPolarity(reader.model_version, reader.coef, reader.intercept, meta).save(args.out)
    print(f"wrote {args.out} for {scorer.version}: {measured}")


if __name__ == "__main__":
    main()
