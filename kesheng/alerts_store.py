"""The alert state as a small JSON file (the CLI's store), and `run_alerts` for `kesheng analyze`.

Writes are atomic: the new state goes to a temporary file in the same folder, is flushed to disk and
renamed over the old one, so a crash never leaves a half-written state (which would re-raise alerts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from nlp.alerts import Alert, AlertRules, AlertState, evaluate, load_rules
from nlp.errors import InputError, Location
from nlp.files import write_text_atomic
from nlp.resources import data_path
from nlp.schema import Result

DEFAULT_RULES = ("alerts.toml",)


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


def rules_or_default(rules_path: Path | None) -> AlertRules:
    """The rules at `rules_path`, or the bundled defaults (data/alerts.toml)."""
    return load_rules(rules_path if rules_path is not None else data_path(*DEFAULT_RULES))


def with_theme_departments(rules: AlertRules, departments: Mapping[str, str]) -> AlertRules:
    """The rules with each theme's own department (from the theme taxonomy) routed by exact id.

    The taxonomy owns the department of its themes; the rules' routing table still catches
    discovered themes by their words, and is the override when it names a theme id exactly.
    """
    routes = {**departments, **rules.routing.themes}
    return replace(rules, routing=replace(rules.routing, themes=routes))


def run_alerts(
    results: Iterable[Result],
    rules: AlertRules,
    state_path: Path | None,
    now: datetime,
    deliver: Callable[[Alert], Alert] | None = None,
) -> list[Alert]:
    """Evaluate the rules over `results` and return every alert of the new state (for alerts.json).

    With a `state_path`, earlier alerts are loaded first (so nothing is raised twice) and the new state
    is saved; without one, each run starts from an empty state. `deliver` (e.g. a
    ``functools.partial(api.webhook.deliver, target=...)``) is called on every open alert, and what
    it records is saved with the state: it must skip events it already delivered (api.webhook.deliver
    does), so new alerts and escalations are pushed once and failed pushes are retried on the next run.
    """
    store = AlertStore(state_path) if state_path is not None else None
    state = store.load() if store is not None else AlertState()
    _, new_state = evaluate(results, rules, state, now)
    if deliver is not None:
        for alert in new_state.alerts:
            if alert.status == "open":
                new_state = new_state.with_alert(deliver(alert))
    if store is not None:
        store.save(new_state)
    return list(new_state.alerts)
