"""The loaded sentiment scorer, behind one small object so that it can be swapped while serving.

Everything that scores (the real-time batcher, the batch worker) asks ``ModelHolder.current()`` at the
start of each model call, so a swap takes effect on the next call and never mid-call: a request in
flight finishes with the scorer it started with, and its results name that scorer's version.

By default the holder follows the model registry (``models.hotswap.ActiveScorer``): a promotion or a
rollback — by the API, the CLI or another process — is picked up within ``model_check_seconds``
without a restart. An explicit model folder (``--model``) or the lexicon pins the scorer instead.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from nlp.config import SentimentConfig
from nlp.sentiment import SentimentScorer

if TYPE_CHECKING:
    from api.settings import Settings
    from models.hotswap import ActiveScorer
    from models.registry import Registry

log = logging.getLogger("kesheng.api")


def service_registry(settings: Settings) -> Registry:
    """The registry of the service: `settings.registry_root()`, its gate from `registry_config`
    (else $KESHENG_REGISTRY_CONFIG or the shipped training/configs/registry.toml)."""
    from models.registry import Registry, registry_config_path

    return Registry(settings.registry_root(), config=settings.registry_config or registry_config_path())


def registry_has_model(registry: Registry) -> bool:
    """True when the registry can name an active version (a built-in model, or a promoted one)."""
    from models.registry import ACTIVE_FILE

    return registry.builtin is not None or (registry.root / ACTIVE_FILE).is_file()


class ModelHolder:
    """Holds the active scorer and its version; thread-safe."""

    def __init__(self, scorer: SentimentScorer, source: str = "", active: ActiveScorer | None = None) -> None:
        self._lock = threading.Lock()
        self._scorer = scorer
        self._active = active
        self.source = source

    @property
    def follows_registry(self) -> bool:
        """True when the scorer follows the registry's active version (hot swap)."""
        return self._active is not None

    @property
    def last_error(self) -> str | None:
        """Why the registry's newly active version could not be loaded (the old one keeps serving)."""
        return None if self._active is None else self._active.last_error

    def current(self) -> tuple[SentimentScorer, str]:
        """The scorer to use now and its version (one scorer: callers use it for the whole call)."""
        if self._active is not None:
            scorer = self._active.get()
            return scorer, scorer.version
        with self._lock:
            return self._scorer, self._scorer.version

    def refresh(self) -> bool:
        """Load the registry's active version now if it changed (after a promotion by this service,
        so that its next request does not wait for the periodic check); True when swapped."""
        if self._active is None or not self._active.refresh():
            return False
        log.info("sentiment model swapped to the registry's active version %s", self._active.version)
        return True

    def swap(self, scorer: SentimentScorer, source: str = "") -> SentimentScorer:
        """Pin `scorer` (no longer following the registry); returns the previous one (calls already
        running finish on it)."""
        previous = self.current()[0]
        with self._lock:
            self._scorer, self._active, self.source = scorer, None, source
        log.info("sentiment model swapped: %s -> %s", previous.version, scorer.version)
        return previous

    @classmethod
    def from_registry(
        cls,
        registry: Registry,
        *,
        config: SentimentConfig | None = None,
        threads: int | None = None,
        check_every: float = 1.0,
    ) -> ModelHolder:
        """Follow `registry`'s active version (loaded now; ModelError when it cannot be)."""
        from models.hotswap import ActiveScorer

        active = ActiveScorer(registry, config, threads=threads, check_every=check_every)
        log.info("sentiment model %s: the active version of the registry %s", active.version, registry.root)
        return cls(active.get(), f"registry {registry.root}", active)

    @classmethod
    def for_settings(cls, settings: Settings, config: SentimentConfig | None = None) -> ModelHolder | None:
        """The registry-following holder the service uses by default; None when the settings pin a
        model folder or the lexicon, or when no model is installed (`load` then decides)."""
        if settings.lexicon or settings.model_dir is not None:
            return None
        registry = service_registry(settings)
        if not registry_has_model(registry):
            return None
        return cls.from_registry(
            registry, config=config, threads=settings.model_threads, check_every=settings.model_check_seconds
        )

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
