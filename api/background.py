"""The service's background threads (batch worker, training runner, alert delivery) share one loop."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("kesheng.api")


class BackgroundLoop:
    """A daemon thread calling `run_once` until stopped: again at once when it did some work, else
    after `poll_seconds` or as soon as `notify` is called. A failing round is logged and the loop
    goes on, so a bad job or a database hiccup does not end the thread."""

    thread_name = "kesheng-background"
    stop_timeout = 10.0

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """One round; True when it did work (so the next round starts at once)."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to finish its round and end; wait at most `timeout` (default stop_timeout) s."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.stop_timeout if timeout is None else timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def notify(self) -> None:
        """There is new work: start a round now instead of at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("%s: round failed", self.thread_name)
                worked = False
            if not worked:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
