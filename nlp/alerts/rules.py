"""The alert rules: a typed configuration model whose defaults are the bundled rules, read from TOML by
nlp.settings with errors that name the key and the value (``alerts.toml: share[0].threshold = 1.5: must
be in (0, 1)``).

Three kinds of rule (see data/alerts.toml for the defaults and what each setting means):
- share: the negative share of a theme's aspect mentions, and/or of a segment, in a day or week window
  is above a threshold, with a minimum volume, and the lower confidence bound of the share is above it;
- rise: the negative share rose week on week by more than a number of points, significantly;
- nps_drop: the NPS of a segment (or of all answers) fell week on week by at least a number of points,
  significantly;
- severe: one complaint names a word the rules list (a safety or legal word: 起诉, 12315, 食物中毒 …),
  from a top-tier customer by default.
A single negative answer of a top-tier customer, or an abnormal call, is not an alert: it enters the
follow-up list (回访清单) that `[followups]` describes (nlp.alerts.followups).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nlp.alerts.stats import BoundMethod
from nlp.resources import data_path
from nlp.schema import EMOTION_NAMES
from nlp.settings import Invalid, from_mapping, read_toml, setting

WindowKind = Literal["day", "week"]
# "negative": sentiment label is negative; "detractor": NPS answer of 0-6 (items without NPS are skipped).
Signal = Literal["negative", "detractor"]
Correction = Literal["bonferroni", "none"]
# "none": `threshold` is a share; "window": it is a margin over the share of all items in the window.
Baseline = Literal["none", "window", "theme"]

SEGMENT_DIMENSIONS = ("tier", "channel", "region", "product")
_YEAR_HOURS = 24.0 * 365


@dataclass(frozen=True)
class ShareRule:
    """Negative share of (theme ×) segment in a window above `threshold`, soundly."""

    name: str
    window: WindowKind = "week"
    per_theme: bool = True
    dimensions: tuple[str, ...] = setting(("region",), allowed=SEGMENT_DIMENSIONS)
    signal: Signal = "negative"
    threshold: float = setting(0.5, low=0.0, high=1.0, open_low=True, open_high=True)
    # With baseline = "window" the threshold is the window's overall share plus `threshold`: robust to
    # how a sentiment model is calibrated, since only the contrast between segments matters. With
    # baseline = "theme" (per_theme rules) it is the same theme's share in the window's other segments
    # plus `threshold`: 华南 logistics against logistics elsewhere, so a theme every region complains
    # about (售后退换) is one alert of the theme's own rule, not one per region.
    baseline: Baseline = "none"
    min_volume: int = setting(20, low=1, high=10_000_000)
    confidence: float = setting(0.95, low=0.5, high=0.9999)
    method: BoundMethod = "wilson"
    deadline_hours: float | None = setting(None, low=0.0, high=_YEAR_HOURS, open_low=True)

    def __post_init__(self) -> None:
        if not self.per_theme and not self.dimensions:
            raise Invalid("dimensions", "must name a segment when per_theme is false")
        if self.baseline == "theme" and not (self.per_theme and self.dimensions):
            raise Invalid("baseline", 'baseline = "theme" needs per_theme = true and a segment dimension')


@dataclass(frozen=True)
class RiseRule:
    """Week-on-week rise of the negative share by more than `min_rise` (0.15 = 15 points), significant."""

    name: str
    per_theme: bool = True
    dimensions: tuple[str, ...] = setting(("region",), allowed=SEGMENT_DIMENSIONS)
    signal: Signal = "negative"
    min_rise: float = setting(0.15, low=0.0, high=1.0, open_low=True)
    min_volume: int = setting(20, low=1, high=10_000_000)
    alpha: float = setting(0.05, low=0.0, high=0.5, open_low=True)
    # Many cells are compared every week; Bonferroni keeps the chance of any false alarm near alpha.
    correction: Correction = "bonferroni"
    deadline_hours: float | None = setting(None, low=0.0, high=_YEAR_HOURS, open_low=True)

    def __post_init__(self) -> None:
        if not self.per_theme and not self.dimensions:
            raise Invalid("dimensions", "must name a segment when per_theme is false")


@dataclass(frozen=True)
class NpsDropRule:
    """Week-on-week drop of NPS (% promoters 9-10 - % detractors 0-6 of the answers with an NPS) by at
    least `min_drop` points, significant in a one-sided z test on the mean per-answer score. NPS belongs
    to the answer, not to a theme: the cells are segments × weeks, and the alert has no theme."""

    name: str
    # Segment keys (tier, channel, region, product); empty: all answers of the week in one cell.
    dimensions: tuple[str, ...] = setting(("product",), allowed=SEGMENT_DIMENSIONS)
    min_drop: float = setting(5.0, low=0.0, high=200.0, open_low=True)
    # Answers with an NPS, in each of the two weeks.
    min_volume: int = setting(30, low=1, high=10_000_000)
    alpha: float = setting(0.05, low=0.0, high=0.5, open_low=True)
    correction: Correction = "bonferroni"
    # Who owns it; not set: routing.default_department (there is no theme to route by).
    department: str | None = None
    deadline_hours: float | None = setting(None, low=0.0, high=_YEAR_HOURS, open_low=True)


# Words that make one complaint a department matter on its own: legal action, regulators, the press,
# and harm to a person. Ordinary complaint words (投诉, 退款) are not here: they are everyday feedback;
# nor is a bare 曝光, which in a camera review is the exposure.
SEVERE_KEYWORDS = (
    "起诉",
    "法院",
    "律师",
    "投诉到消协",
    "消协",
    "消费者协会",
    "12315",
    "工商局",
    "市场监管",
    "媒体曝光",
    "找媒体",
    "食物中毒",
    "受伤",
    "烫伤",
    "触电",
    "漏电",
    "爆炸",
    "起火",
    "着火",
)


def _check_emotions(emotions: tuple[str, ...]) -> None:
    unknown = [e for e in emotions if e not in EMOTION_NAMES and e not in EMOTION_NAMES.values()]
    if unknown:
        known = ", ".join(f"{k} ({v})" for k, v in EMOTION_NAMES.items())
        raise Invalid("emotions", f"unknown emotion {unknown[0]!r}; use one of {known}", list(emotions))


@dataclass(frozen=True)
class SevereRule:
    """One complaint alone raises a department alert: it names one of `keywords` (safety, legal, the
    press), comes from one of `top_tiers` (any tier when empty) and reads negative — the answer, or the
    opinion unit that names the word, is labelled negative with at least `min_negative_probability`
    (and, when `emotions` is not empty, has one of them)."""

    name: str
    keywords: tuple[str, ...] = SEVERE_KEYWORDS
    top_tiers: tuple[str, ...] = ("钻石", "VIP")
    min_negative_probability: float = setting(0.5, low=0.0, high=1.0)
    # Emotion classes (angry, sad, fear, surprise, happy, neutral) or their Chinese names (愤怒, …);
    # empty: any emotion.
    emotions: tuple[str, ...] = ()
    deadline_hours: float | None = setting(24.0, low=0.0, high=_YEAR_HOURS, open_low=True)

    def __post_init__(self) -> None:
        if not self.keywords:
            raise Invalid(
                "keywords",
                "is empty: the rule could never fire (single negative answers of top-tier customers are "
                "follow-ups now, see [followups])",
                [],
            )
        _check_emotions(self.emotions)


@dataclass(frozen=True)
class FollowupRules:
    """Which single answers enter the follow-up list (回访清单): a negative answer of a top-tier customer
    (its most negative opinion unit, or the answer when it has none, at least `min_negative_probability`)
    and, with `abnormal_calls`, every abnormal call. Each is due within its tier's deadline ([deadlines])."""

    enabled: bool = True
    # The tiers whose negative answers are called back; not set: the top tiers of [deadlines].
    tiers: tuple[str, ...] | None = None
    min_negative_probability: float = setting(0.8, low=0.0, high=1.0)
    # A call the customer ended angry, or whose anger rose (Result.call.abnormal), whatever the tier.
    abnormal_calls: bool = True
    # Other negative opinion units listed with the one the entry is about.
    max_other_aspects: int = setting(3, low=0, high=20)


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
    default_hours: float = setting(48.0, low=0.0, high=_YEAR_HOURS, open_low=True)
    top_tier_hours: float = setting(24.0, low=0.0, high=_YEAR_HOURS, open_low=True)
    top_tiers: tuple[str, ...] = ("钻石", "VIP")


@dataclass(frozen=True)
class Escalation:
    """An open alert past its deadline (+ grace) is escalated; later still, it expires."""

    department: str = "客户体验委员会"
    grace_hours: float = setting(0.0, low=0.0, high=_YEAR_HOURS)
    expire_after_hours: float = setting(72.0, low=0.0, high=_YEAR_HOURS, open_low=True)

    def __post_init__(self) -> None:
        if self.expire_after_hours <= self.grace_hours:
            raise Invalid(
                "expire_after_hours",
                "must be longer than escalation.grace_hours (an alert is escalated before it expires)",
            )


@dataclass(frozen=True)
class WebhookSettings:
    """Where alerts are pushed. The secret is never in the file: `secret_env` names the variable."""

    url: str = setting("", empty=True)
    secret_env: str = "KESHENG_WEBHOOK_SECRET"
    max_attempts: int = setting(4, low=1, high=20)
    backoff_seconds: float = setting(1.0, low=0.0, high=3600.0)
    backoff_factor: float = setting(2.0, low=1.0, high=10.0)
    timeout_seconds: float = setting(5.0, low=0.0, high=600.0, open_low=True)

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("http://", "https://")):
            raise Invalid("url", "must start with http:// or https://")


@dataclass(frozen=True)
class AlertRules:
    """Everything the alert engine needs. The rules themselves are data, like the taxonomy: the bundled
    set is data/alerts.toml (`load_rules(default_rules_path())`); a file that names no rule of a kind has none."""

    share: tuple[ShareRule, ...] = ()
    rise: tuple[RiseRule, ...] = ()
    nps_drop: tuple[NpsDropRule, ...] = ()
    severe: tuple[SevereRule, ...] = ()
    followups: FollowupRules = field(default_factory=FollowupRules)
    routing: Routing = field(default_factory=Routing)
    deadlines: Deadlines = field(default_factory=Deadlines)
    escalation: Escalation = field(default_factory=Escalation)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    # After an alert is resolved, the same theme and segment raise nothing new for this long.
    cooldown_hours: float = setting(168.0, low=0.0, high=_YEAR_HOURS)
    max_examples: int = setting(3, low=0, high=20)
    example_chars: int = setting(80, low=10, high=1000)

    @property
    def followup_tiers(self) -> tuple[str, ...]:
        """The tiers whose negative answers enter the follow-up list."""
        tiers = self.followups.tiers
        return self.deadlines.top_tiers if tiers is None else tiers

    def deadline_hours_for(self, tier: str | None) -> float:
        """A tier's deadline: the top tiers' shorter one, else the default."""
        deadlines = self.deadlines
        return deadlines.top_tier_hours if tier in deadlines.top_tiers else deadlines.default_hours

    def __post_init__(self) -> None:
        rules: tuple[ShareRule | RiseRule | NpsDropRule | SevereRule, ...] = (
            *self.share,
            *self.rise,
            *self.nps_drop,
            *self.severe,
        )
        names = [r.name for r in rules]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise Invalid("name", "is used by two rules; rule names must be unique", value=name)


def rules_from_dict(data: Mapping[str, Any], source: str = "alerts.toml") -> AlertRules:
    """Validate a parsed rules document; `source` names the file in error messages."""
    return from_mapping(AlertRules, data, source)


def default_rules_path() -> Path:
    """The bundled rules file (data/alerts.toml)."""
    return data_path("alerts.toml")


def load_rules(path: Path | None = None) -> AlertRules:
    """Read and validate a rules file (TOML). Errors name the file and the key."""
    path = path or default_rules_path()
    return rules_from_dict(read_toml(path), str(path))
