"""What the alert rules read from the items, tallied one item at a time in bounded memory.

A grouping (per theme or not, the segment dimensions, day or week windows, the signal) keeps for each
cell (theme, segment, window) how many mentions take part (nlp.alerts.mentions: aspect mentions with
their own polarity; NPS detractors count answers), how many are bad, and the few bad examples an alert
would show; an NPS drop rule keeps, per segment and week, the answers with an NPS, their promoters and
detractors, and a few detractors' answers; a severe rule keeps, for each item it matches, only what
that item's alert says about it. Rules that group alike share one grouping.

Pure: no clock, no files. The rules that turn tallies into candidates are in nlp.alerts.candidates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from nlp.alerts.mentions import Mention, Mentions, customer_aspects
from nlp.alerts.model import DETRACTOR_MAX_NPS, PROMOTER_MIN_NPS, Evidence, Example, Window
from nlp.alerts.rules import (
    SEGMENT_DIMENSIONS,
    AlertRules,
    NpsDropRule,
    RiseRule,
    SevereRule,
    ShareRule,
    Signal,
    WindowKind,
)
from nlp.schema import Aspect, Emotion, Result, Sentiment, customer_text

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


def is_detractor(result: Result) -> bool | None:
    """Whether the item's NPS answer is a detractor's (0-6); None when it has no NPS."""
    raw = result.meta.get("nps")
    try:
        nps = float(raw) if raw is not None and raw != "" else None
    except (TypeError, ValueError):
        return None
    return None if nps is None else nps <= DETRACTOR_MAX_NPS


def nps_score(result: Result) -> float | None:
    """The item's NPS answer (0-10), or None when it has none or it is not a score of 0 to 10."""
    raw = result.meta.get("nps")
    try:
        score = float(raw) if raw is not None and raw != "" else None
    except (TypeError, ValueError):
        return None
    return score if score is not None and 0.0 <= score <= 10.0 else None


def segment_of(meta: Mapping[str, Any]) -> Segment:
    """The item's values of the segment dimensions it has (tier, channel, region, product)."""
    return tuple((d, str(meta[d])) for d in SEGMENT_DIMENSIONS if meta.get(d) not in (None, ""))


def evidence_round(value: float) -> float:
    # Evidence is compared for equality on a replay and written to JSON: 4 decimals is plenty.
    return round(value, 4)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GroupTally:
    """One cell of a grouping: mentions, bad mentions, and the examples of its evidence — the most
    negative bad mentions (their opinion units), one per distinct (shortened) text, at most ``limit`` of
    them. A repeated "太差了" shows nothing new, so each text keeps only its best-ranked mention."""

    __slots__ = ("_best", "_chars", "_limit", "_worst", "bad", "count")

    def __init__(self, limit: int, chars: int) -> None:
        self.count = 0
        self.bad = 0
        self._limit = limit
        self._chars = chars
        self._best: dict[str, tuple[Rank, Example]] = {}
        self._worst: Rank | None = None  # the worst rank held, once `limit` texts are held

    def add(self, item_id: str, mention: Mention, bad: bool, rank: Rank) -> None:
        self.count += 1
        if not bad:
            return
        self.bad += 1
        if self._limit <= 0 or (self._worst is not None and rank >= self._worst):
            return  # ranks behind every held text: it can be neither a new text nor a better one
        text = shorten(mention.text, self._chars)
        held = self._best.get(text)
        if held is not None and held[0] <= rank:
            return
        if held is None and len(self._best) >= self._limit:
            # Dropping the worst text is safe: `limit` texts now rank ahead of it, and ranks only improve.
            del self._best[max(self._best, key=lambda t: self._best[t][0])]
        self._best[text] = (rank, Example(item_id, text, evidence_round(mention.negative_probability)))
        if len(self._best) >= self._limit:
            self._worst = max(r for r, _ in self._best.values())

    def examples(self) -> tuple[Example, ...]:
        """The examples, most negative first."""
        return tuple(example for _, example in sorted(self._best.values(), key=lambda held: held[0]))


class NpsTally:
    """One cell (segment × week) of an NPS drop rule: the answers with an NPS, how many are promoters and
    detractors, and the most negative detractors' answers as examples."""

    __slots__ = ("_answers", "promoters")

    def __init__(self, limit: int, chars: int) -> None:
        self._answers = GroupTally(limit, chars)  # its bad ones are the detractors
        self.promoters = 0

    @property
    def count(self) -> int:
        return self._answers.count

    @property
    def detractors(self) -> int:
        return self._answers.bad

    def add(self, item_id: str, mention: Mention, score: float, rank: Rank) -> None:
        self._answers.add(item_id, mention, score <= DETRACTOR_MAX_NPS, rank)
        if score >= PROMOTER_MIN_NPS:
            self.promoters += 1

    def examples(self) -> tuple[Example, ...]:
        return self._answers.examples()


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
    def nps_of(cls, rule: NpsDropRule) -> Grouping:
        """An NPS drop rule's cells: each answer with an NPS once, in its segment and week."""
        return cls(False, tuple(rule.dimensions), "week", "detractor")

    @classmethod
    def baseline_of(cls, rule: ShareRule) -> Grouping:
        """The reference of a rule with a baseline: every item of each window in one cell ("window"),
        or each theme of each window in one cell ("theme")."""
        return cls(rule.baseline == "theme", (), rule.window, rule.signal)

    def places(
        self, meta: Mapping[str, Any], day: date, mentions: Mentions, detractor: bool | None
    ) -> Iterator[tuple[GroupKey, bool, Mention]]:
        """The cells an item is counted in, each with whether it is bad there and what an example quotes.

        None when the item lacks a dimension (it cannot be placed). Signal "negative": per theme, one
        per aspect mention of the theme with its own label; without a theme, one per aspect mention of
        the segment (the item once when it has no themed aspects). Signal "detractor" (an answer's NPS):
        the item once per distinct theme, or once; items without an NPS take no part.
        """
        values = [meta.get(d) for d in self.dimensions]
        if any(v is None or str(v).strip() == "" for v in values):
            return
        segment = tuple(sorted(zip(self.dimensions, (str(v) for v in values), strict=True)))
        window = window_of(day, self.window)
        if self.signal == "negative":
            for mention in mentions.by_theme if self.per_theme else mentions.in_segment:
                yield (mention.theme if self.per_theme else None, segment, window), mention.negative, mention
            return
        if detractor is None:
            return
        if not self.per_theme:
            yield (None, segment, window), detractor, mentions.item
            return
        for theme in mentions.themes:
            quote = max((m for m in mentions.by_theme if m.theme == theme), key=lambda m: m.negative_probability)
            yield (theme, segment, window), detractor, quote


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


def _reads(sentiment: Sentiment, emotion: Emotion | None, rule: SevereRule) -> bool:
    """A complaint in the rule's sense: negative, negative enough, with one of its emotions if it names any."""
    if sentiment.label != "negative" or sentiment.negative_probability < rule.min_negative_probability:
        return False
    return not rule.emotions or (
        emotion is not None and (emotion.label in rule.emotions or emotion.name in rule.emotions)
    )


def severe_hit(result: Result, rule: SevereRule, rules: AlertRules) -> SevereHit | None:
    """The hit when the item alone is severe under `rule`: a complaint of one of its tiers naming one of its
    words (the answer, or the opinion unit naming the word, reads negative); None otherwise."""
    tier = str(result.meta.get("tier", ""))
    if rule.top_tiers and tier not in rule.top_tiers:
        return None
    words = [w for w in rule.keywords if w in _complaint_text(result)]
    if not words:
        return None
    aspects = customer_aspects(result)
    naming = [a for a in aspects if any(w in a.text for w in words)]
    complaints: list[Aspect] = [a for a in naming if _reads(a.sentiment, a.emotion or result.emotion, rule)]
    whole = _reads(result.sentiment, result.emotion, rule)
    if not complaints and not whole:
        return None
    unit = max(complaints or naming, key=lambda a: a.sentiment.negative_probability, default=None)
    worst = max(
        (a for a in aspects if a.label == "negative" and a.theme),
        key=lambda a: a.sentiment.negative_probability,
        default=None,
    )
    theme = next((a.theme for a in (unit, worst) if a is not None and a.theme), result.top_theme)
    probability = max([result.sentiment.negative_probability] + [a.sentiment.negative_probability for a in complaints])
    emotion = (unit.emotion if unit is not None else None) or result.emotion
    feeling = f"，情绪为{emotion.name}" if emotion is not None else ""
    quote = unit.text if unit is not None else result.text
    evidence = Evidence(
        count=1,
        negatives=1,
        share=evidence_round(probability),
        threshold=rule.min_negative_probability,
        examples=(Example(result.id, shorten(quote, rules.example_chars), evidence_round(probability)),),
        reason=(
            f"单条严重反馈 {result.id}：{tier or '未知等级'}客户提到 {'/'.join(words)}"
            f"（负面概率 {probability:.2f}{feeling}）"
        ),
    )
    return SevereHit(result.id, theme, segment_of(result.meta), item_date(result), evidence)
