"""The alert rules: a typed configuration model, loaded from TOML and validated with errors that name
the key and the offending value (``alerts.toml: share[0].threshold = 1.5: must be in (0, 1)``).

Three kinds of rule (see data/alerts.toml for the defaults and what each setting means):
- share: the negative share of a theme and/or segment in a day or week window is above a threshold,
  with a minimum volume, and the lower confidence bound of the share is above it too;
- rise: the negative share rose week on week by more than a number of points, significantly;
- severe: one item is very negative from a top-tier customer, or names 投诉/12315/退款 in anger.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

from nlp.alerts.stats import BoundMethod
from nlp.errors import ConfigError

WindowKind = Literal["day", "week"]
# "negative": sentiment label is negative; "detractor": NPS answer of 0-6 (items without NPS are skipped).
Signal = Literal["negative", "detractor"]
Correction = Literal["bonferroni", "none"]
# "none": `threshold` is a share; "window": it is a margin over the share of all items in the window.
Baseline = Literal["none", "window"]

_WINDOWS: tuple[WindowKind, ...] = ("day", "week")
_SIGNALS: tuple[Signal, ...] = ("negative", "detractor")
_METHODS: tuple[BoundMethod, ...] = ("wilson", "clopper_pearson")
_CORRECTIONS: tuple[Correction, ...] = ("bonferroni", "none")
_BASELINES: tuple[Baseline, ...] = ("none", "window")
SEGMENT_DIMENSIONS = ("tier", "channel", "region", "product")


@dataclass(frozen=True)
class ShareRule:
    """Negative share of (theme ×) segment in a window above `threshold`, soundly."""

    name: str
    window: WindowKind = "week"
    per_theme: bool = True
    dimensions: tuple[str, ...] = ("region",)
    signal: Signal = "negative"
    threshold: float = 0.5
    # With baseline = "window" the threshold is the window's overall share plus `threshold`: robust to
    # how a sentiment model is calibrated, since only the contrast between segments matters.
    baseline: Baseline = "none"
    min_volume: int = 20
    confidence: float = 0.95
    method: BoundMethod = "wilson"
    deadline_hours: float | None = None


@dataclass(frozen=True)
class RiseRule:
    """Week-on-week rise of the negative share by more than `min_rise` (0.15 = 15 points), significant."""

    name: str
    per_theme: bool = True
    dimensions: tuple[str, ...] = ("region",)
    signal: Signal = "negative"
    min_rise: float = 0.15
    min_volume: int = 20
    alpha: float = 0.05
    # Many cells are compared every week; Bonferroni keeps the chance of any false alarm near alpha.
    correction: Correction = "bonferroni"
    deadline_hours: float | None = None


@dataclass(frozen=True)
class SevereRule:
    """One item alone raises an alert: very negative from a top tier, or a complaint word in anger.

    Either trigger may be switched off: an empty `top_tiers` or an empty `keywords`.
    """

    name: str
    min_negative_probability: float = 0.9
    top_tiers: tuple[str, ...] = ("钻石", "VIP")
    keywords: tuple[str, ...] = ("投诉", "12315", "退款")
    emotions: tuple[str, ...] = ("愤怒",)
    deadline_hours: float | None = 24.0


@dataclass(frozen=True)
class Routing:
    """Theme → department. A theme matches a key exactly, else the first key it contains (物流 ⊂ 物流配送)."""

    default_department: str = "客户体验部"
    themes: Mapping[str, str] = field(default_factory=dict)

    def department_for(self, theme: str | None) -> str:
        """The department responsible for a theme (the default owner when nothing matches)."""
        if theme is None:
            return self.default_department
        if theme in self.themes:
            return self.themes[theme]
        for key, department in self.themes.items():
            if key in theme:
                return department
        return self.default_department


@dataclass(frozen=True)
class Deadlines:
    default_hours: float = 48.0
    top_tier_hours: float = 24.0
    top_tiers: tuple[str, ...] = ("钻石", "VIP")


@dataclass(frozen=True)
class Escalation:
    """An open alert past its deadline (+ grace) is escalated; later still, it expires."""

    department: str = "客户体验委员会"
    grace_hours: float = 0.0
    expire_after_hours: float = 72.0


@dataclass(frozen=True)
class WebhookSettings:
    """Where alerts are pushed. The secret is never in the file: `secret_env` names the variable."""

    url: str = ""
    secret_env: str = "KESHENG_WEBHOOK_SECRET"
    max_attempts: int = 4
    backoff_seconds: float = 1.0
    backoff_factor: float = 2.0
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class AlertRules:
    """Everything the alert engine needs; `load_rules()` reads it from data/alerts.toml by default."""

    share: tuple[ShareRule, ...] = ()
    rise: tuple[RiseRule, ...] = ()
    severe: tuple[SevereRule, ...] = ()
    routing: Routing = field(default_factory=Routing)
    deadlines: Deadlines = field(default_factory=Deadlines)
    escalation: Escalation = field(default_factory=Escalation)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    # After an alert is resolved, the same theme and segment raise nothing new for this long.
    cooldown_hours: float = 168.0
    max_examples: int = 3
    example_chars: int = 80


# --- validation -------------------------------------------------------------------------------------


class _Reader:
    """Reads one TOML table, checking types and ranges, and rejects keys it does not know."""

    def __init__(self, table: Any, where: str, source: str) -> None:
        self.source = source
        self.where = where
        if not isinstance(table, dict):
            self.fail(where, table, "must be a table")
        self.table: dict[str, Any] = table
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, key: str, value: Any, why: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {key} = {value!r}: {why} ({ConfigError.code})")

    def raw(self, name: str, default: Any) -> Any:
        self.used.add(name)
        return self.table.get(name, default)

    def string(self, name: str, default: str | None = None, *, empty: bool = False) -> str:
        value = self.raw(name, default)
        if value is None:
            self.fail(self.key(name), value, "is required")
        if not isinstance(value, str) or (not empty and not value.strip()):
            self.fail(self.key(name), value, "must be a non-empty string" if not empty else "must be a string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            self.fail(self.key(name), value, "must be true or false")
        return value

    def number(
        self,
        name: str,
        default: float,
        *,
        low: float,
        high: float,
        open_low: bool = False,
        open_high: bool = False,
    ) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self.key(name), value, "must be a number")
        number = float(value)
        if number < low or number > high or (open_low and number == low) or (open_high and number == high):
            brackets = ("(" if open_low else "[", ")" if open_high else "]")
            self.fail(self.key(name), value, f"must be in {brackets[0]}{low:g}, {high:g}{brackets[1]}")
        return number

    def optional_number(self, name: str, default: float | None, *, low: float, high: float) -> float | None:
        if self.table.get(name, default) is None:
            self.used.add(name)
            return None
        return self.number(name, default if default is not None else low, low=low, high=high, open_low=True)

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.key(name), value, "must be a whole number")
        if not low <= value <= high:
            self.fail(self.key(name), value, f"must be between {low} and {high}")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.raw(name, default)
        if value not in allowed:
            self.fail(self.key(name), value, f"must be one of {', '.join(allowed)}")
        return str(value)

    def strings(self, name: str, default: tuple[str, ...], *, allowed: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.raw(name, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(self.key(name), value, "must be a list of non-empty strings")
        for item in value:
            if allowed and item not in allowed:
                self.fail(self.key(name), item, f"must be one of {', '.join(allowed)}")
        if len(set(value)) != len(value):
            self.fail(self.key(name), value, "has duplicates")
        return tuple(value)

    def mapping(self, name: str) -> dict[str, str]:
        value = self.raw(name, {})
        if not isinstance(value, dict):
            self.fail(self.key(name), value, "must be a table of name = department")
        for key, item in value.items():
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{self.key(name)}.{key}", item, "must be a non-empty department name")
        return dict(value)

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            self.fail(self.key(unknown[0]), self.table[unknown[0]], "is not a known setting")


def _hours(reader: _Reader, name: str, default: float) -> float:
    return reader.number(name, default, low=0.0, high=24.0 * 365, open_low=True)


def _share_rule(reader: _Reader) -> ShareRule:
    rule = ShareRule(
        name=reader.string("name"),
        window=cast(WindowKind, reader.choice("window", "week", _WINDOWS)),
        per_theme=reader.boolean("per_theme", True),
        dimensions=reader.strings("dimensions", ("region",), allowed=SEGMENT_DIMENSIONS),
        signal=cast(Signal, reader.choice("signal", "negative", _SIGNALS)),
        threshold=reader.number("threshold", 0.5, low=0.0, high=1.0, open_low=True, open_high=True),
        baseline=cast(Baseline, reader.choice("baseline", "none", _BASELINES)),
        min_volume=reader.integer("min_volume", 20, low=1, high=10_000_000),
        confidence=reader.number("confidence", 0.95, low=0.5, high=0.9999),
        method=cast(BoundMethod, reader.choice("method", "wilson", _METHODS)),
        deadline_hours=reader.optional_number("deadline_hours", None, low=0.0, high=24.0 * 365),
    )
    if not rule.per_theme and not rule.dimensions:
        reader.fail(reader.key("dimensions"), [], "must name a segment when per_theme is false")
    return rule


def _rise_rule(reader: _Reader) -> RiseRule:
    rule = RiseRule(
        name=reader.string("name"),
        per_theme=reader.boolean("per_theme", True),
        dimensions=reader.strings("dimensions", ("region",), allowed=SEGMENT_DIMENSIONS),
        signal=cast(Signal, reader.choice("signal", "negative", _SIGNALS)),
        min_rise=reader.number("min_rise", 0.15, low=0.0, high=1.0, open_low=True),
        min_volume=reader.integer("min_volume", 20, low=1, high=10_000_000),
        alpha=reader.number("alpha", 0.05, low=0.0, high=0.5, open_low=True),
        correction=cast(Correction, reader.choice("correction", "bonferroni", _CORRECTIONS)),
        deadline_hours=reader.optional_number("deadline_hours", None, low=0.0, high=24.0 * 365),
    )
    if not rule.per_theme and not rule.dimensions:
        reader.fail(reader.key("dimensions"), [], "must name a segment when per_theme is false")
    return rule


def _severe_rule(reader: _Reader) -> SevereRule:
    rule = SevereRule(
        name=reader.string("name"),
        min_negative_probability=reader.number("min_negative_probability", 0.9, low=0.5, high=1.0),
        top_tiers=reader.strings("top_tiers", ("钻石", "VIP")),
        keywords=reader.strings("keywords", ("投诉", "12315", "退款")),
        emotions=reader.strings("emotions", ("愤怒",)),
        deadline_hours=reader.optional_number("deadline_hours", 24.0, low=0.0, high=24.0 * 365),
    )
    if not rule.top_tiers and not rule.keywords:
        reader.fail(reader.key("top_tiers"), [], "and keywords are both empty: the rule could never fire")
    return rule


def _rule_list(data: _Reader, name: str) -> list[_Reader]:
    value = data.raw(name, [])
    if not isinstance(value, list):
        data.fail(name, value, "must be an array of tables ([[" + name + "]])")
    return [_Reader(item, f"{name}[{i}]", data.source) for i, item in enumerate(value)]


def rules_from_dict(data: Mapping[str, Any], source: str = "alerts.toml") -> AlertRules:
    """Validate a parsed rules document; `source` names the file in error messages."""
    top = _Reader(dict(data), "", source)
    share: list[ShareRule] = []
    rise: list[RiseRule] = []
    severe: list[SevereRule] = []
    for reader in _rule_list(top, "share"):
        share.append(_share_rule(reader))
        reader.finish()
    for reader in _rule_list(top, "rise"):
        rise.append(_rise_rule(reader))
        reader.finish()
    for reader in _rule_list(top, "severe"):
        severe.append(_severe_rule(reader))
        reader.finish()
    names = [r.name for r in share] + [r.name for r in rise] + [r.name for r in severe]
    for i, name in enumerate(names):
        if name in names[:i]:
            top.fail("name", name, "is used by two rules; rule names must be unique")

    routing = _Reader(top.raw("routing", {}), "routing", source)
    routing_value = Routing(
        default_department=routing.string("default_department", "客户体验部"),
        themes=routing.mapping("themes"),
    )
    routing.finish()
    deadlines = _Reader(top.raw("deadlines", {}), "deadlines", source)
    deadlines_value = Deadlines(
        default_hours=_hours(deadlines, "default_hours", 48.0),
        top_tier_hours=_hours(deadlines, "top_tier_hours", 24.0),
        top_tiers=deadlines.strings("top_tiers", ("钻石", "VIP")),
    )
    deadlines.finish()
    escalation = _Reader(top.raw("escalation", {}), "escalation", source)
    escalation_value = Escalation(
        department=escalation.string("department", "客户体验委员会"),
        grace_hours=escalation.number("grace_hours", 0.0, low=0.0, high=24.0 * 365),
        expire_after_hours=_hours(escalation, "expire_after_hours", 72.0),
    )
    escalation.finish()
    if escalation_value.expire_after_hours <= escalation_value.grace_hours:
        escalation.fail(
            "escalation.expire_after_hours",
            escalation.table.get("expire_after_hours", escalation_value.expire_after_hours),
            "must be longer than escalation.grace_hours (an alert is escalated before it expires)",
        )
    webhook = _Reader(top.raw("webhook", {}), "webhook", source)
    url = webhook.string("url", "", empty=True)
    if url and not url.startswith(("http://", "https://")):
        webhook.fail("webhook.url", url, "must start with http:// or https://")
    webhook_value = WebhookSettings(
        url=url,
        secret_env=webhook.string("secret_env", "KESHENG_WEBHOOK_SECRET"),
        max_attempts=webhook.integer("max_attempts", 4, low=1, high=20),
        backoff_seconds=webhook.number("backoff_seconds", 1.0, low=0.0, high=3600.0),
        backoff_factor=webhook.number("backoff_factor", 2.0, low=1.0, high=10.0),
        timeout_seconds=webhook.number("timeout_seconds", 5.0, low=0.0, high=600.0, open_low=True),
    )
    webhook.finish()
    rules = AlertRules(
        share=tuple(share),
        rise=tuple(rise),
        severe=tuple(severe),
        routing=routing_value,
        deadlines=deadlines_value,
        escalation=escalation_value,
        webhook=webhook_value,
        cooldown_hours=top.number("cooldown_hours", 168.0, low=0.0, high=24.0 * 365),
        max_examples=top.integer("max_examples", 3, low=0, high=20),
        example_chars=top.integer("example_chars", 80, low=10, high=1000),
    )
    top.finish()
    return rules


def load_rules(path: Path) -> AlertRules:
    """Read and validate a rules file (TOML). Errors name the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: alert rules file not found ({ConfigError.code})") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error} ({ConfigError.code})") from error
    return rules_from_dict(data, str(path))
