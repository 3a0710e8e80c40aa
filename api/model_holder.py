"""The loaded sentiment scorer, behind one small object so that it can be swapped while serving.

Everything that scores (the real-time batcher, the batch worker) asks ``ModelHolder.current()`` at the
start of each model call, so a ``swap`` takes effect on the next call and never mid-call.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from nlp.config import SentimentConfig
from nlp.sentiment import SentimentScorer

log = logging.getLogger("kesheng.api")


class ModelHolder:
    """Holds the active scorer and its version; thread-safe."""

    def __init__(self, scorer: SentimentScorer, source: str = "") -> None:
        self._lock = threading.Lock()
        self._scorer = scorer
        self.source = source

    def current(self) -> tuple[SentimentScorer, str]:
        """The scorer to use now and its version."""
        with self._lock:
            return self._scorer, self._scorer.version

    def swap(self, scorer: SentimentScorer, source: str = "") -> SentimentScorer:
        """Make `scorer` the active one; returns the previous one (calls already running finish on it)."""
        with self._lock:
            previous, self._scorer, self.source = self._scorer, scorer, source
        log.info("sentiment model swapped: %s -> %s", previous.version, scorer.version)
        return previous

    @classmethod
    def load(
        cls,
        model_dir: Path | None,
        lexicon: SentimentScorer,
        *,
        use_lexicon: bool = False,
        config: SentimentConfig | None = None,
        threads: int | None = None,
    ) -> ModelHolder:
        """`model_dir`, else the default model (models/default), else `lexicon` with a logged note.

        `use_lexicon` chooses the lexicon outright. A model folder that exists but cannot be loaded is
        an error (ModelError), not a silent fallback.
        """
        from models import default_model_dir
        from nlp.sentiment.transformer import TransformerScorer

        if use_lexicon:
            return cls(lexicon, "lexicon")
        folder = model_dir or default_model_dir()
        if folder is None:
            log.warning("no sentiment model found under models/default; scoring with the lexicon")
            return cls(lexicon, "lexicon")
        scorer = TransformerScorer.load(folder, config, threads=threads)
        log.info("sentiment model %s loaded from %s", scorer.version, folder)
        return cls(scorer, str(folder))
