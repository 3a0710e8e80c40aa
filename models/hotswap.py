"""Hot swap: the active version's scorer, replaced without a restart when the registry's active
version changes (a promotion or rollback by the CLI, the API or another process).

``ActiveScorer.get()`` returns the current scorer; at most every ``check_every`` seconds it reads the
registry's generation counter (one small file), and when it moved it loads the new active version
and swaps the reference. A request that already holds the old scorer finishes with it — scorers are
immutable after load — so nothing in flight fails; every result names the ``model_version`` that
produced it. If the new version cannot be loaded, the old one keeps serving and ``last_error`` says
why (the service shows it in /readyz and GET /v1/models).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from nlp.errors import KeshengError

if TYPE_CHECKING:
    from models.registry import Registry
    from nlp.config import SentimentConfig
    from nlp.sentiment.transformer import TransformerScorer


class ActiveScorer:
    """The registry's active model, loaded once and reloaded when the active version changes."""

    def __init__(
        self,
        registry: Registry,
        config: SentimentConfig | None = None,
        *,
        threads: int | None = None,
        check_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Load the active version now (a failure here raises: a service must not start without a model)."""
        self.registry, self.config, self.threads = registry, config, threads
        self.check_every, self.clock = check_every, clock
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._generation = registry.generation()
        self._scorer = registry.load_scorer(None, config, threads=threads)
        self._checked = clock()

    @property
    def version(self) -> str:
        """The version of the scorer `get` returns now."""
        return self._scorer.version

    def get(self) -> TransformerScorer:
        """The scorer of the active version (checked for a change at most every `check_every` s)."""
        if self.clock() - self._checked >= self.check_every:
            self.refresh()
        return self._scorer

    def refresh(self) -> bool:
        """Reload if the active version changed; True when the scorer was swapped. One thread
        loads; the others keep using the current scorer meanwhile."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked = self.clock()
            generation = self.registry.generation()
            if generation == self._generation:
                return False
            try:
                scorer = self.registry.load_scorer(None, self.config, threads=self.threads)
            except KeshengError as error:
                self.last_error = f"cannot load the active version (generation {generation}): {error}"
                self._generation = generation  # do not retry a broken version on every request
                return False
            self._scorer, self._generation, self.last_error = scorer, generation, None
            return True
        finally:
            self._lock.release()


__all__ = ["ActiveScorer"]
