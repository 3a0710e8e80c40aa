"""The alert state as a small JSON file (the CLI's store), and `record_alerts` for `kesheng analyze`.

Writes are atomic: the new state goes to a temporary file in the same folder, is flushed to disk and
renamed over the old one, so a crash never leaves a half-written state (which would re-raise alerts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from nlp.alerts import Alert, AlertRules, AlertState, evaluate
from nlp.errors import InputError, Location
from nlp.files import write_text_atomic
from nlp.schema import Result


class AlertStore:
    """Loads and saves an AlertState at `path`. A missing file is an empty state."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> AlertState:
        """The saved state; InputError naming the file when it is not a readable kesheng state."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AlertState()
        try:
            return AlertState.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InputError(Location(str(self.path)), f"not a kesheng alert state file: {error}") from error

    def save(self, state: AlertState) -> None:
        """Write the state atomically (temporary file + fsync + rename)."""
        write_text_atomic(self.path, json.dumps(state.to_dict(), ensure_ascii=False, indent=1))


Evaluation = Callable[[AlertState], tuple[list[Alert], AlertState]]


def record_alerts(
    evaluation: Evaluation, state_path: Path | None, deliver: Callable[[Alert], Alert] | None = None
) -> list[Alert]:
    """Run `evaluation` on the saved state and return every alert of the new state (for alerts.json).

    With a `state_path`, earlier alerts are loaded first (so nothing is raised twice) and the new state
    is saved; without one, each run starts from an empty state. `deliver` (e.g. a
    ``functools.partial(api.webhook.deliver, target=...)``) is called on every open alert, and what
    it records is saved with the state: it must skip events it already delivered (api.webhook.deliver
    does), so new alerts and escalations are pushed once and failed pushes are retried on the next run.
    """
    store = AlertStore(state_path) if state_path is not None else None
    state = store.load() if store is not None else AlertState()
    _, new_state = evaluation(state)
    if deliver is not None:
        for alert in new_state.alerts:
            if alert.status == "open":
                new_state = new_state.with_alert(deliver(alert))
    if store is not None:
        store.save(new_state)
    return list(new_state.alerts)


def run_alerts(
    results: Iterable[Result],
    rules: AlertRules,
    state_path: Path | None,
    now: datetime,
    deliver: Callable[[Alert], Alert] | None = None,
) -> list[Alert]:
    """`record_alerts` for the rules evaluated over `results` (all of them passed at once)."""
    return record_alerts(lambda state: evaluate(results, rules, state, now), state_path, deliver)
