"""Keyword vectors for theme finding: principal axes, normalisation and co-occurrence context."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nlp.keywords import TermCounts

FloatArray = npt.NDArray[np.float32]


def principal_axes(features: FloatArray, dimensions: int, seed: int) -> FloatArray:
    """The top principal directions of the keyword features, as a (width, k) projection."""
    from sklearn.utils.extmath import randomized_svd

    k = max(1, min(dimensions, features.shape[0] - 1, features.shape[1]))
    _, _, axes = randomized_svd(features, n_components=k, random_state=seed)
    projection: FloatArray = axes.T.astype(np.float32)
    return projection


def normalise(matrix: FloatArray) -> FloatArray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    out: FloatArray = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def context_vectors(terms: list[str], counts: Sequence[TermCounts], dimensions: int, seed: int) -> FloatArray:
    """Each keyword's company: positive PMI of document co-occurrence, reduced by SVD, L2-normalised.

    A word alone says little to a small encoder (头发 lands near 摄像头 by its character); the words
    it is said with (洗发水, 头皮屑) place it in its demand.
    """
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    index = {t: i for i, t in enumerate(terms)}
    rows: list[int] = []
    cols: list[int] = []
    for row, doc in enumerate(counts):
        for term in doc.weights:
            col = index.get(term)
            if col is not None:
                rows.append(row)
                cols.append(col)
    docs = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(counts), len(terms)))
    together = (docs.T @ docs).toarray().astype(np.float64)
    np.fill_diagonal(together, 0.0)
    totals = together.sum(axis=1)
    grand = totals.sum()
    if grand <= 0 or len(terms) < 3:
        return np.zeros((len(terms), 1), dtype=np.float32)
    with np.errstate(divide="ignore"):
        pmi = np.log(together * grand / np.maximum(np.outer(totals, totals), 1e-12))
    ppmi = np.where(together > 0, np.maximum(pmi, 0.0), 0.0)
    k = max(1, min(dimensions, len(terms) - 2))
    u, s, _ = randomized_svd(ppmi, n_components=k, random_state=seed)
    return normalise((u * np.sqrt(s)).astype(np.float32))
