"""Scores of a binary sentiment classifier from its logits: metrics and temperature calibration.

Class 1 is positive. Temperature scaling divides the logits by one scalar T fitted to minimise the
negative log-likelihood on a held-out set; it changes the probabilities, never the predicted label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import log_softmax
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

FloatArray = npt.NDArray[np.float32]

# The NLL is convex in 1/T, so a ternary search over 1/T in this range finds its minimum.
_INVERSE_T_RANGE = (1e-3, 20.0)
_SEARCH_ROUNDS = 100


def positive_probability(logits: FloatArray, temperature: float = 1.0) -> FloatArray:
    """P(positive) = softmax(logits / T)[:, 1] for logits of shape [n, 2]."""
    margin = (logits[:, 1] - logits[:, 0]).astype(np.float64) / temperature
    return (1.0 / (1.0 + np.exp(-margin))).astype(np.float32)


def nll(logits: FloatArray, labels: Sequence[int], temperature: float) -> float:
    """Mean negative log-likelihood of the labels under softmax(logits / T)."""
    margin = (logits[:, 1] - logits[:, 0]).astype(np.float64) / temperature
    signed = np.where(np.asarray(labels) == 1, margin, -margin)
    return float(np.mean(np.logaddexp(0.0, -signed)))


def _search(loss: Callable[[float], float]) -> float:
    """The temperature minimising `loss(T)` (ternary search over 1/T, where the NLL is convex)."""
    low, high = _INVERSE_T_RANGE
    for _ in range(_SEARCH_ROUNDS):
        a, b = low + (high - low) / 3, high - (high - low) / 3
        if loss(1.0 / a) <= loss(1.0 / b):
            high = b
        else:
            low = a
    return 2.0 / (low + high)


def fit_temperature(logits: FloatArray, labels: Sequence[int]) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) on `labels`."""
    return _search(lambda t: nll(logits, labels, t))


def fit_temperature_classes(logits: npt.NDArray[np.floating[Any]], labels: Sequence[int]) -> float:
    """The same for logits of any number of classes [n, k] (labels are class indices)."""
    y = np.asarray(labels)
    values = logits.astype(np.float64)

    def loss(t: float) -> float:
        return float(-np.mean(log_softmax(values / t, axis=1)[np.arange(len(y)), y]))

    return _search(loss)


def classification_metrics(logits: FloatArray, labels: Sequence[int]) -> dict[str, Any]:
    """Accuracy, macro-F1, ROC-AUC (of P(positive)) and n; AUC is NaN-free only with both classes."""
    truth = np.asarray(labels)
    predicted = (logits[:, 1] > logits[:, 0]).astype(int)
    both_classes = len(set(truth.tolist())) == 2
    (tn, fp), (fn, tp) = confusion_matrix(truth, predicted, labels=[0, 1]).tolist()
    return {
        "accuracy": round(float(np.mean(predicted == truth)), 5),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", labels=[0, 1])), 5),
        "roc_auc": round(float(roc_auc_score(truth, positive_probability(logits))), 5) if both_classes else 0.0,
        "n": len(truth),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }
