"""What the alert rules read from the items, tallied one item at a time in bounded memory.

A grouping (per theme or not, the segment dimensions, day or week windows, the signal) keeps for each
cell (theme, segment, window) the number of items that take part, how many are bad, and the few bad
examples an alert would show; a severe rule keeps, for each item it matches, only what that item's
alert says about it. Rules that group alike share one grouping.

Pure: no clock, no files. The rules that turn tallies into candidates are in nlp.alerts.candidates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

from nlp.alerts.model import DETRACTOR_MAX_NPS, Evidence, Example, Window
from nlp.alerts.rules import SEGMENT_DIMENSIONS, AlertRules, RiseRule, SevereRule, ShareRule, Signal, WindowKind
from nlp.schema import Result, customer_text

Segment = tuple[tuple[str, str], ...]
GroupKey = tuple[str | None, Segment, Window]
# (-negative_probability, id, arrival): the order examples are chosen in. The arrival number only
# breaks ties between equal (probability, id) in input order, as a stable sort of every item would.
Rank = tuple[float, str, int]


def item_date(result: Result) -> date | None:
    """The item's date (meta.date, an ISO date or a date), or None."""
    raw = result.meta.get("date")
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


# Cached: a million items fall on a few dozen days, and every grouping asks for each item's window.
@functools.lru_cache(maxsize=4096)
def window_of(day: date, kind: WindowKind) -> Window:
    """The day itself, or the Monday-to-Sunday week that holds it."""
    if kind == "day":
        return Window(day.isoformat(), day.isoformat())
    monday = day - timedelta(days=day.weekday())
    return Window(monday.isoformat(), (monday + timedelta(days=6)).isoformat())


def signal_of(result: Result, signal: Signal) -> bool | None:
    """Whether the item counts as bad for this signal; None when it does not take part (no NPS)."""
    if signal == "negative":
        return result.sentiment.label == "negative"
    raw = result.meta.get("nps")
    try:
        nps = float(raw) if raw is not None and raw != "" else None
    except (TypeError, ValueError):
        return None
    return None if nps is None else nps <= DETRACTOR_MAX_NPS


def evidence_round(value: float) -> float:
    # Evidence is compared for equality on a replay and written to JSON: 4 decimals is plenty.
    return round(value, 4)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GroupTally:
    """One cell of a grouping: items, bad items, and the examples of its evidence — the most negative
    bad items, one per distinct (shortened) text, at most ``limit`` of them. A repeated "太差了" shows
    nothing new, so each text keeps only its best-ranked item."""

    __slots__ = ("_best", "_chars", "_limit", "_worst", "bad", "count")

    def __init__(self, limit: int, chars: int) -> None:
        self.count = 0
        self.bad = 0
        self._limit = limit
        self._chars = chars
        self._best: dict[str, tuple[Rank, Example]] = {}
        self._worst: Rank | None = None  # the worst rank held, once `limit` texts are held

    def add(self, result: Result, bad: bool, rank: Rank) -> None:
        self.count += 1
        if not bad:
            return
        self.bad += 1
        if self._limit <= 0 or (self._worst is not None and rank >= self._worst):
            return  # ranks behind every held text: it can be neither a new text nor a better one
        text = shorten(result.text, self._chars)
        held = self._best.get(text)
        if held is not None and held[0] <= rank:
            return
        if held is None and len(self._best) >= self._limit:
            # Dropping the worst text is safe: `limit` texts now rank ahead of it, and ranks only improve.
            del self._best[max(self._best, key=lambda t: self._best[t][0])]
        probability = result.sentiment.negative_probability
        self._best[text] = (rank, Example(result.id, text, evidence_round(probability)))
        if len(self._best) >= self._limit:
            self._worst = max(r for r, _ in self._best.values())

    def examples(self) -> tuple[Example, ...]:
        """The examples, most negative first."""
        return tuple(example for _, example in sorted(self._best.values(), key=lambda held: held[0]))


@dataclass(frozen=True)
class Grouping:
    """How a rule places items in cells."""

    per_theme: bool
    dimensions: tuple[str, ...]
    window: WindowKind
    signal: Signal

    @classmethod
    def of(cls, rule: ShareRule | RiseRule) -> Grouping:
        window: WindowKind = rule.window if isinstance(rule, ShareRule) else "week"
        return cls(rule.per_theme, tuple(rule.dimensions), window, rule.signal)

    @classmethod
    def baseline_of(cls, rule: ShareRule) -> Grouping:
        """Every item of each window in one cell: the reference of a rule with baseline = "window"."""
        return cls(False, (), rule.window, rule.signal)

    def keys(self, result: Result, day: date) -> list[GroupKey]:
        """The cells the item belongs to: none when it lacks a dimension (it cannot be placed), one per
        distinct theme when grouping per theme (none without a theme), else one."""
        values = [result.meta.get(d) for d in self.dimensions]
        if any(v is None or str(v).strip() == "" for v in values):
            return []
        segment = tuple(sorted(zip(self.dimensions, (str(v) for v in values), strict=True)))
        window = window_of(day, self.window)
        themes: tuple[str | None, ...] = tuple(dict.fromkeys(result.themes)) if self.per_theme else (None,)
        return [(theme, segment, window) for theme in themes]


@dataclass(frozen=True)
class SevereHit:
    """One item a severe rule matched: what its alert needs, not the item. `day` is None when the item
    has no date (the alert is then dated on the day of the evaluation)."""

    item_id: str
    theme: str | None
    segment: Segment
    day: date | None
    evidence: Evidence


def _complaint_text(result: Result) -> str:
    # In a call only the customer's words count: an agent saying "如需投诉请拨打…" is not a complaint.
    return customer_text(result.turns) if result.turns else result.text


def severe_hit(result: Result, rule: SevereRule, rules: AlertRules) -> SevereHit | None:
    """The hit when the item alone is severe under `rule`: very negative from a top tier, or a complaint
    word in anger; None otherwise."""
    probability = result.sentiment.negative_probability
    tier = str(result.meta.get("tier", ""))
    reasons = []
    if tier in rule.top_tiers and probability >= rule.min_negative_probability:
        reasons.append(f"{tier}客户 负面概率 {probability:.2f} ≥ {rule.min_negative_probability:.2f}")
    emotion = result.emotion
    if rule.keywords and emotion is not None and (emotion.label in rule.emotions or emotion.name in rule.emotions):
        words = [w for w in rule.keywords if w in _complaint_text(result)]
        if words:
            reasons.append(f"提到 {'/'.join(words)} 且情绪为{emotion.name}")
    if not reasons:
        return None
    evidence = Evidence(
        count=1,
        negatives=int(result.sentiment.label == "negative"),
        share=evidence_round(probability),
        threshold=rule.min_negative_probability,
        examples=(Example(result.id, shorten(result.text, rules.example_chars), evidence_round(probability)),),
        reason=f"单条严重反馈 {result.id}：" + "；".join(reasons),
    )
    segment = tuple((d, str(result.meta[d])) for d in SEGMENT_DIMENSIONS if result.meta.get(d) not in (None, ""))
    theme = result.top_theme
    return SevereHit(result.id, theme, segment, item_date(result), evidence)
