"""Alert values and their lifecycle: open → acknowledged → resolved, or expired past the deadline.

Pure values and functions of (alert, now); the engine (nlp.alerts.engine) raises and refreshes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from nlp.alerts.rules import AlertRules
from nlp.errors import KeshengError

Status = Literal["open", "acknowledged", "resolved", "expired"]
AlertKind = Literal["share", "rise", "nps_drop", "severe"]
_STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved", "expired")
_KINDS: tuple[AlertKind, ...] = ("share", "rise", "nps_drop", "severe")
# NPS answers of 0-6 are detractors, 9-10 promoters (the standard NPS definition); 7-8 are passives.
DETRACTOR_MAX_NPS = 6
PROMOTER_MIN_NPS = 9


class AlertTransitionError(KeshengError):
    """A lifecycle step that the alert's status does not allow (e.g. resolving an expired alert)."""

    code = "E500"


@dataclass(frozen=True)
class Example:
    """One example item of an alert: its id and its (already redacted) text, shortened."""

    id: str
    text: str
    negative_probability: float


@dataclass(frozen=True)
class Window:
    """A closed date range, ISO dates: a day (start == end) or a Monday-to-Sunday week."""

    start: str
    end: str


@dataclass(frozen=True)
class Evidence:
    """Why the alert was raised. `threshold` is the share that had to be passed: the rule's, or the
    window's `baseline` plus the rule's margin. For a rise, `previous_*` describe the week before; for a
    severe item, `share` is its negative probability. For an NPS drop, `count` is the week's answers
    with an NPS, `negatives` its detractors (`share` their share), `promoters` its promoters, `nps` and
    `previous_nps` the NPS of the week and the week before in points (-100 to 100), and `threshold` the
    NPS the week had to fall to (the week before's, less the rule's `min_drop`)."""

    count: int
    negatives: int
    share: float
    threshold: float
    lower_bound: float | None = None
    examples: tuple[Example, ...] = ()
    baseline: float | None = None
    previous_count: int | None = None
    previous_negatives: int | None = None
    previous_share: float | None = None
    p_value: float | None = None
    reason: str = ""
    promoters: int | None = None
    previous_promoters: int | None = None
    nps: float | None = None
    previous_nps: float | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the audit trail."""

    time: str
    status: Status
    note: str


@dataclass(frozen=True)
class Delivery:
    """The outcome of pushing an alert somewhere (one entry per delivery, however many attempts)."""

    channel: str
    target: str
    idempotency_key: str
    status: Literal["delivered", "failed"]
    attempts: int
    time: str
    response_status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Alert:
    """One alert with its evidence, routing, deadline, status and audit trail (see `to_dict`)."""

    id: str
    rule: str
    kind: AlertKind
    theme: str | None
    segment: Mapping[str, str]
    window: Window
    evidence: Evidence
    department: str
    deadline: str
    status: Status
    created_at: str
    updated_at: str
    history: tuple[HistoryEntry, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    also_matched: tuple[str, ...] = ()
    escalated: bool = False
    escalated_to: str | None = None
    item_id: str | None = None

    @property
    def condition(self) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        """Theme and segment, without the window: what the cooldown after a resolution is about."""
        return self.theme, tuple(sorted(self.segment.items()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (alerts.json, the state file, the webhook body); `from_dict` reverses it."""
        out = asdict(self)
        out["segment"] = dict(self.segment)
        out["evidence"]["examples"] = [asdict(e) for e in self.evidence.examples]
        for name in ("history", "deliveries", "also_matched"):
            out[name] = [x if isinstance(x, str) else dict(x) for x in out[name]]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        """The inverse of `to_dict`; raises KeyError/TypeError/ValueError on a malformed dict."""
        if data["status"] not in _STATUSES or data["kind"] not in _KINDS:
            raise ValueError(f"unknown status {data['status']!r} or kind {data['kind']!r}")
        fields = dict(data)
        evidence = dict(data["evidence"])
        evidence["examples"] = tuple(Example(**e) for e in evidence["examples"])
        fields["evidence"] = Evidence(**evidence)
        fields["segment"] = {str(k): str(v) for k, v in data["segment"].items()}
        fields["window"] = Window(**data["window"])
        fields["history"] = tuple(HistoryEntry(**h) for h in data["history"])
        fields["deliveries"] = tuple(Delivery(**d) for d in data.get("deliveries", []))
        fields["also_matched"] = tuple(data.get("also_matched", []))
        return cls(**fields)


@dataclass(frozen=True)
class AlertState:
    """Every alert known so far, in the order they were raised. Immutable: updates return a new state."""

    alerts: tuple[Alert, ...] = ()

    def get(self, alert_id: str) -> Alert | None:
        """The alert with this id, or None."""
        return next((a for a in self.alerts if a.id == alert_id), None)

    def with_alert(self, alert: Alert) -> AlertState:
        """The state with `alert` replacing the one of the same id (or appended)."""
        if self.get(alert.id) is None:
            return AlertState((*self.alerts, alert))
        return AlertState(tuple(alert if a.id == alert.id else a for a in self.alerts))

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "alerts": [a.to_dict() for a in self.alerts]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        if data.get("version") != 1:
            raise ValueError(f"unsupported state version {data.get('version')!r}")
        return cls(tuple(Alert.from_dict(a) for a in data["alerts"]))


# --- lifecycle ---------------------------------------------------------------------------------------


def stamp(now: datetime) -> str:
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware (e.g. datetime.now(UTC))")
    return now.isoformat(timespec="seconds")


def _transition(alert: Alert, status: Status, note: str, now: datetime, allowed: tuple[Status, ...]) -> Alert:
    if alert.status not in allowed:
        raise AlertTransitionError(
            f"alert {alert.id}: cannot go from {alert.status} to {status} ({AlertTransitionError.code})"
        )
    time = stamp(now)
    entry = HistoryEntry(time=time, status=status, note=note)
    return replace(alert, status=status, updated_at=time, history=(*alert.history, entry))


def acknowledge(alert: Alert, note: str, now: datetime) -> Alert:
    """open → acknowledged: the department has taken the alert (the note says by whom / the plan)."""
    return _transition(alert, "acknowledged", note, now, ("open",))


def resolve(alert: Alert, note: str, now: datetime) -> Alert:
    """open/acknowledged → resolved. A resolution needs a note (what was done)."""
    if not note.strip():
        raise AlertTransitionError(f"alert {alert.id}: a resolution needs a note ({AlertTransitionError.code})")
    return _transition(alert, "resolved", note, now, ("open", "acknowledged"))


def apply_deadline(alert: Alert, rules: AlertRules, now: datetime) -> Alert:
    """Escalate an open alert past its deadline (+ grace), and expire it once it is far enough past.

    Acknowledged alerts are left alone: the department answered within its deadline.
    """
    if alert.status != "open":
        return alert
    overdue = now - datetime.fromisoformat(alert.deadline)
    escalation = rules.escalation
    if not alert.escalated and overdue > timedelta(hours=escalation.grace_hours):
        time = stamp(now)
        note = f"逾期未确认，已升级至{escalation.department}"
        alert = replace(
            alert,
            escalated=True,
            escalated_to=escalation.department,
            updated_at=time,
            history=(*alert.history, HistoryEntry(time, "open", note)),
        )
    if overdue > timedelta(hours=escalation.expire_after_hours):
        alert = _transition(alert, "expired", "逾期未处理，已过期", now, ("open",))
    return alert


def resolved_at(alert: Alert) -> datetime | None:
    """When the alert was resolved (None if it is not)."""
    if alert.status != "resolved":
        return None
    entry = next(h for h in reversed(alert.history) if h.status == "resolved")
    return datetime.fromisoformat(entry.time)
