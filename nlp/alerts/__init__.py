"""Alerts: rules in configuration, a pure engine over results, and the alert lifecycle.

``evaluate(results, rules, state, now) -> (raised, new_state)`` is the whole engine; for a stream,
``AlertAccumulator(rules)`` is fed one result at a time and then ``.evaluate(state, now)`` (the same
alerts, in memory bounded by the rules' cells). Loading and saving the state and delivering alerts live
at the edges (kesheng.alerts_store, api.webhook).
"""

from __future__ import annotations

from nlp.alerts.engine import AlertAccumulator, evaluate
from nlp.alerts.model import (
    Alert,
    AlertState,
    AlertTransitionError,
    Delivery,
    Evidence,
    Example,
    HistoryEntry,
    Window,
    acknowledge,
    apply_deadline,
    resolve,
)
from nlp.alerts.rules import AlertRules, RiseRule, SevereRule, ShareRule, load_rules, rules_from_dict

__all__ = [
    "Alert",
    "AlertAccumulator",
    "AlertRules",
    "AlertState",
    "AlertTransitionError",
    "Delivery",
    "Evidence",
    "Example",
    "HistoryEntry",
    "RiseRule",
    "SevereRule",
    "ShareRule",
    "Window",
    "acknowledge",
    "apply_deadline",
    "evaluate",
    "load_rules",
    "resolve",
    "rules_from_dict",
]
