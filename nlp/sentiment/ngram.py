"""A character n-gram logistic regression: the fast second opinion next to the transformer.

Hashed character 1–3-grams (no vocabulary to ship), sublinear TF × IDF, L2-normalised, and a linear
model. It reads spelling and set phrases (差评, 不推荐, 好评) the way the transformer reads context, so
their errors differ and a weighted sum of their logits beats either (measured in training.ngram).
Saved as `ngram.safetensors` (idf, coef as float16) + `ngram.json` (hashing parameters).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file, save_file

from nlp.errors import ModelError

WEIGHTS_FILE = "ngram.safetensors"
PARAMS_FILE = "ngram.json"
# Multi-class heads on the same features (a three-way model's folder may have them): per head,
# the rows of the features it has weights for, those weights [rows, classes] and the intercepts.
HEADS_FILE = "ngram_heads.safetensors"
FloatArray = npt.NDArray[np.float64]
Float = TypeVar("Float", bound=np.floating[Any])


def mix_logits(logits: npt.NDArray[Float], margins: npt.NDArray[np.floating[Any]], weight: float) -> npt.NDArray[Float]:
    """(1 - weight) × the transformer's logits [n, 2] + weight × the n-gram model's log-odds of
    positive [n], taken as the two-class logits (0, margin). The runtime scores this mix and
    training.export fits `weight` on it; a new array of the logits' dtype is returned."""
    mixed = logits.copy()
    mixed *= 1 - weight
    mixed[:, 1] += weight * margins
    return mixed


def mix_three_way(
    logits: npt.NDArray[Float], margins: npt.NDArray[np.floating[Any]], weight: float
) -> npt.NDArray[Float]:
    """The n-gram model mixed into three-way logits [n, 3] (negative, neutral, positive): it read
    only opinions, so it moves the split between negative and positive (mixed as ``mix_logits``)
    and leaves the transformer's P(neutral) as it was."""
    pair = logits[:, [0, 2]]
    opinion = np.logaddexp(pair[:, 0], pair[:, 1])
    mixed = mix_logits(pair, margins, weight)
    split = mixed - np.logaddexp(mixed[:, 0], mixed[:, 1])[:, None]
    out = logits.copy()
    out[:, 0] = opinion + split[:, 0]
    out[:, 2] = opinion + split[:, 1]
    return out


@dataclass(frozen=True)
class NgramParams:
    """How texts become features; fixed when the model is fitted."""

    n_features: int = 2**20
    ngram_min: int = 1
    ngram_max: int = 3

    def vectorizer(self) -> Any:
        """The (stateless) hashing vectorizer of these parameters: raw counts, no normalisation."""
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            analyzer="char",
            ngram_range=(self.ngram_min, self.ngram_max),
            n_features=self.n_features,
            alternate_sign=False,
            norm=None,
            lowercase=True,
        )


@dataclass(frozen=True)
class NgramHead:
    """A multinomial logistic regression on the n-gram features: weights for the features seen in
    training (the others have none), expanded to a dense [n_features, classes] matrix at load."""

    rows: npt.NDArray[np.int64]
    coef: npt.NDArray[np.float32]  # [len(rows), classes]
    intercept: npt.NDArray[np.float64]  # [classes]
    dense: npt.NDArray[np.float32]

    @classmethod
    def build(cls, rows: Any, coef: Any, intercept: Any, n_features: int) -> NgramHead:
        rows, coef = np.asarray(rows, dtype=np.int64), np.asarray(coef, dtype=np.float32)
        dense = np.zeros((n_features, coef.shape[1]), dtype=np.float32)
        dense[rows] = coef
        return cls(rows, coef, np.asarray(intercept, dtype=np.float64), dense)

    def log_probabilities(self, features: Any) -> FloatArray:
        # float32 features against the float32 matrix: float64 ones would copy the matrix every call.
        logits = np.asarray(features.astype(np.float32) @ self.dense, dtype=np.float64) + self.intercept
        shifted = logits - logits.max(axis=1, keepdims=True)
        out: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return out


def save_heads(folder: Path, heads: Mapping[str, NgramHead]) -> None:
    tensors: dict[str, Any] = {}
    for name, head in heads.items():
        tensors[f"{name}.rows"] = head.rows.astype(np.int32)
        tensors[f"{name}.coef"] = head.coef.astype(np.float16)
        tensors[f"{name}.intercept"] = head.intercept.astype(np.float32)
    save_file(tensors, str(folder / HEADS_FILE))


def load_heads(folder: Path, names: Sequence[str], n_features: int) -> dict[str, NgramHead]:
    """The heads `names` of a model folder's ngram_heads.safetensors; ModelError names what is missing."""
    path = folder / HEADS_FILE
    if not path.is_file():
        raise ModelError(f"{path}: missing; the manifest names n-gram heads {list(names)}")
    tensors = load_file(str(path))
    heads = {}
    for name in names:
        try:
            rows, coef, intercept = (tensors[f"{name}.{part}"] for part in ("rows", "coef", "intercept"))
        except KeyError:
            raise ModelError(f"{path}: no head {name!r}") from None
        if rows.max(initial=0) >= n_features or coef.shape[0] != rows.shape[0]:
            raise ModelError(f"{path}: head {name!r} does not fit {n_features} features")
        heads[name] = NgramHead.build(rows, coef, intercept, n_features)
    return heads


class NgramModel:
    """Sublinear TF-IDF over hashed character n-grams → logistic regression (margin = positive)."""

    def __init__(self, params: NgramParams, idf: FloatArray, coef: FloatArray, intercept: float) -> None:
        self.params, self.idf, self.coef, self.intercept = params, idf, coef, intercept
        self._vectorizer = params.vectorizer()

    def features(self, texts: Sequence[str]) -> Any:
        """Sparse [len(texts), n_features] rows: (1 + log tf) × idf, L2-normalised."""
        from sklearn.preprocessing import normalize

        counts = self._vectorizer.transform(texts).astype(np.float64)
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(self.idf).tocsr())

    def margins(self, texts: Sequence[str]) -> FloatArray:
        """log-odds of positive for each text, float64 [len(texts)]."""
        if not texts:
            return np.zeros(0)
        return np.asarray(self.features(texts) @ self.coef, dtype=np.float64) + self.intercept

    def readings(
        self, texts: Sequence[str], heads: Mapping[str, NgramHead]
    ) -> tuple[FloatArray, dict[str, FloatArray]]:
        """The margins and each head's log-probabilities [n, classes], from one pass over the features."""
        features = self.features(texts)
        margins = np.asarray(features @ self.coef, dtype=np.float64) + self.intercept
        return margins, {name: head.log_probabilities(features) for name, head in heads.items()}

    def save(self, folder: Path) -> None:
        """Write ngram.safetensors and ngram.json into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {"idf": self.idf.astype(np.float16), "coef": self.coef.astype(np.float16)},
            str(folder / WEIGHTS_FILE),
        )
        params = {**self.params.__dict__, "intercept": self.intercept}
        (folder / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> NgramModel:
        """Read a model written by `save`."""
        for name in (WEIGHTS_FILE, PARAMS_FILE):
            if not (folder / name).is_file():
                raise ModelError(f"{folder / name}: missing n-gram model file")
        raw = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        intercept = float(raw.pop("intercept"))
        params = NgramParams(**raw)
        tensors = load_file(str(folder / WEIGHTS_FILE))
        idf, coef = tensors["idf"].astype(np.float64), tensors["coef"].astype(np.float64)
        if idf.shape != (params.n_features,) or coef.shape != (params.n_features,):
            raise ModelError(f"{folder / WEIGHTS_FILE}: expected vectors of {params.n_features} features")
        return cls(params, idf, coef, intercept)
