"""Fit the character n-gram model (nlp.sentiment.ngram) on the training pool.

Run: ``python -m training.ngram --pool runs/pool/train.tsv --out runs/ngram``

Training.export reads it from ``data.ngram`` and fits the weight of its logits against the
transformer's on the recipe's dev set (``fit_ngram_weight``); the runtime mixes them with the same
``nlp.sentiment.ngram.mix_logits``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlp.sentiment.ngram import NgramModel, NgramParams, mix_logits
from training.calibrate import FloatArray, fit_temperature, nll
from training.pool import read_pool_tsv

# Regularisation of the logistic regression (sklearn's C): 4 scored best of 1, 2, 4, 8 on
# ChnSentiCorp dev with the pool as training data.
C = 4.0


def fit_ngram(texts: Sequence[str], labels: Sequence[int], params: NgramParams | None = None) -> NgramModel:
    """Fit IDF and the logistic regression on labelled texts (1 = positive)."""
    from sklearn.linear_model import LogisticRegression

    params = params or NgramParams()
    counts = params.vectorizer().transform(texts)
    document_frequency = np.bincount(counts.indices, minlength=params.n_features)
    # Smoothed IDF, as sklearn's TfidfTransformer: unseen features get the largest weight but
    # their coefficient is 0, so they do not matter.
    idf = np.log((1 + len(texts)) / (1 + document_frequency)) + 1.0
    idf = idf.astype(np.float16).astype(np.float64)  # as saved
    model = NgramModel(params, idf, np.zeros(params.n_features), 0.0)
    features = model.features(texts)
    regression = LogisticRegression(C=C, max_iter=2000).fit(features, np.asarray(labels))
    return NgramModel(params, idf, regression.coef_[0].astype(np.float64), float(regression.intercept_[0]))


def margin_logits(margins: FloatArray) -> FloatArray:
    """The n-gram model's log-odds of positive as two-class logits [n, 2] (0, margin)."""
    return np.stack([np.zeros_like(margins), margins], axis=1)


def fit_ngram_weight(logits: FloatArray, margins: FloatArray, labels: Sequence[int]) -> float:
    """The mixing weight (0, 0.05 … 0.7) whose temperature-calibrated NLL on `labels` is lowest."""
    best, best_nll = 0.0, float("inf")
    for weight in np.arange(0.0, 0.7001, 0.05):
        mixed = mix_logits(logits, margins, float(weight))
        loss = nll(mixed, labels, fit_temperature(mixed, labels))
        if loss < best_nll - 1e-9:
            best, best_nll = round(float(weight), 2), loss
    return best


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: fit on the pool, save into --out."""
    parser = argparse.ArgumentParser(description="Fit the character n-gram sentiment model.")
    parser.add_argument("--pool", type=Path, default=Path("runs/pool/train.tsv"))
    parser.add_argument("--out", type=Path, default=Path("runs/ngram"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = read_pool_tsv(args.pool)
    model = fit_ngram([text for _, text in rows], [label for label, _ in rows])
    model.save(args.out)
    print(f"fitted on {len(rows)} texts in {time.monotonic() - started:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
