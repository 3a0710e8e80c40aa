"""Alerts: rules in configuration, a pure engine over results, and the alert lifecycle.

``evaluate(results, rules, state, now) -> (raised, new_state)`` is the whole engine; for a stream,
``AlertAccumulator(rules)`` is fed one result at a time and then ``.evaluate(state, now)`` (the same
alerts, in memory bounded by the rules' cells). Share and rise rules count aspect mentions, each with
its own polarity; NPS drop rules compare a segment's NPS week on week. Single answers to call back (a
negative top-tier answer, an abnormal call) are not alerts but the follow-up list:
``list_followups(results, rules, now)`` or ``AlertAccumulator.followups``.
Loading and saving the state and delivering alerts live at the edges (kesheng.alerts_store, api.webhook).
"""

from __future__ import annotations

from nlp.alerts.engine import AlertAccumulator, evaluate
from nlp.alerts.followups import Followup, FollowupAspect, list_followups, theme_labels
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
from nlp.alerts.rules import (
    AlertRules,
    FollowupRules,
    NpsDropRule,
    RiseRule,
    SevereRule,
    ShareRule,
    load_rules,
    rules_from_dict,
)

__all__ = [
    "Alert",
    "AlertAccumulator",
    "AlertRules",
    "AlertState",
    "AlertTransitionError",
    "Delivery",
    "Evidence",
    "Example",
    "Followup",
    "FollowupAspect",
    "FollowupRules",
    "HistoryEntry",
    "NpsDropRule",
    "RiseRule",
    "SevereRule",
    "ShareRule",
    "Window",
    "acknowledge",
    "apply_deadline",
    "evaluate",
    "list_followups",
    "load_rules",
    "resolve",
    "rules_from_dict",
    "theme_labels",
]
