"""The follow-up list (回访清单): single answers that need a call back, not department alerts.

A negative answer of a top-tier customer, or an abnormal call, is one person to call: it says who (the
item and its segment — results are redacted, so never a name or a number), which aspect (the theme,
term, opinion and the opinion unit), which emotion, how negative, by when (the tier's deadline) and
which department the aspect routes to. Which answers enter is `[followups]` of the rules.

``followup_hit(result, rules)`` keeps the few fields of an entry while results stream by (no result is
kept); ``listed(hits, rules, now, theme_labels)`` dates and orders them: due first, then most negative.
``list_followups(results, ...)`` is both over a list. Pure: `now` is passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from nlp.alerts.mentions import customer_aspects
from nlp.alerts.model import stamp
from nlp.alerts.rules import AlertRules
from nlp.alerts.tally import evidence_round, item_date, segment_of, shorten
from nlp.schema import ABNORMAL_REASONS, EMOTION_NAMES, Aspect, EmotionLabel, Kind, Label, Result

Reason = Literal["top_tier_negative", "abnormal_call"]
# Why an answer is on the list, in the words the follow-up team reads.
FOLLOWUP_REASONS: Mapping[str, str] = {
    "top_tier_negative": "高等级客户负面反馈",
    "abnormal_call": "异常通话",
}


@dataclass(frozen=True)
class FollowupAspect:
    """The opinion unit a follow-up is about: its theme (id and label), term, opinion, text and reading."""

    theme: str | None
    theme_label: str | None
    term: str
    opinion: str
    text: str
    label: Label
    negative_probability: float
    emotion: EmotionLabel | None = None
    emotion_name: str | None = None

    @classmethod
    def of(cls, aspect: Aspect, chars: int) -> FollowupAspect:
        emotion = aspect.emotion
        return cls(
            theme=aspect.theme,
            theme_label=None,
            term=aspect.term,
            opinion=aspect.opinion,
            text=shorten(aspect.text, chars),
            label=aspect.label,
            negative_probability=evidence_round(aspect.sentiment.negative_probability),
            emotion=None if emotion is None else emotion.label,
            emotion_name=None if emotion is None else emotion.name,
        )


@dataclass(frozen=True)
class Followup:
    """One entry of the follow-up list (see `to_dict`). `id` is the item's: an answer is listed once."""

    id: str
    item_id: str
    kind: Kind
    reasons: tuple[Reason, ...]
    reason: str
    segment: Mapping[str, str]
    date: str | None
    aspect: FollowupAspect | None
    other_aspects: tuple[FollowupAspect, ...]
    text: str
    negative_probability: float
    emotion: EmotionLabel | None
    emotion_name: str | None
    department: str
    deadline_hours: float
    due: str
    listed_at: str
    trajectory: str = ""

    @property
    def tier(self) -> str | None:
        return self.segment.get("tier")

    @property
    def theme(self) -> str | None:
        return None if self.aspect is None else self.aspect.theme

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (followups.json, the service's rows); `from_dict` reverses it."""
        out = asdict(self)
        out["segment"] = dict(self.segment)
        out["reasons"] = list(self.reasons)
        out["other_aspects"] = [asdict(a) for a in self.other_aspects]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Followup:
        """The inverse of `to_dict`; raises KeyError/TypeError on a malformed dict."""
        fields = dict(data)
        fields["segment"] = {str(k): str(v) for k, v in data["segment"].items()}
        fields["reasons"] = tuple(data["reasons"])
        fields["aspect"] = None if data["aspect"] is None else FollowupAspect(**data["aspect"])
        fields["other_aspects"] = tuple(FollowupAspect(**a) for a in data["other_aspects"])
        return cls(**fields)


@dataclass(frozen=True)
class FollowupHit:
    """What an entry needs of one result, before it is dated (the due time comes from `now`)."""

    item_id: str
    kind: Kind
    reasons: tuple[Reason, ...]
    segment: tuple[tuple[str, str], ...]
    date: str | None
    aspect: FollowupAspect | None
    other_aspects: tuple[FollowupAspect, ...]
    text: str
    negative_probability: float
    emotion: EmotionLabel | None
    trajectory: str
    call_reasons: tuple[str, ...]


def followup_hit(result: Result, rules: AlertRules) -> FollowupHit | None:
    """The hit when `result` enters the follow-up list under `rules.followups`; None otherwise.

    A top-tier answer enters when its most negative negative unit (or the answer itself, when it is
    negative) is at least `min_negative_probability` negative; an abnormal call enters with
    `abnormal_calls`. The entry is about the most negative themed negative unit, else the most negative
    unit; its negativity is the highest reading of the answer and its negative units.
    """
    settings = rules.followups
    if not settings.enabled:
        return None
    aspects = customer_aspects(result)
    by_negativity = sorted(aspects, key=lambda a: -a.sentiment.negative_probability)
    negative = [a for a in by_negativity if a.label == "negative"]
    sentiment = result.sentiment
    readings = [a.sentiment.negative_probability for a in negative]
    if sentiment.label == "negative":
        readings.append(sentiment.negative_probability)
    reasons: list[Reason] = []
    tier = result.meta.get("tier")
    if str(tier) in rules.followup_tiers and max(readings, default=0.0) >= settings.min_negative_probability:
        reasons.append("top_tier_negative")
    call = result.call
    if settings.abnormal_calls and call is not None and call.abnormal:
        reasons.append("abnormal_call")
    if not reasons:
        return None
    chars = rules.example_chars
    # The unit to talk about: the most negative one with a theme (it has an owner), else the most
    # negative one ("太差了" says how, not what), else, for an abnormal call, the call's most negative.
    themed = [a for a in negative if a.theme]
    chosen = next(iter(themed or negative or by_negativity), None)
    others = [a for a in negative if a is not chosen][: settings.max_other_aspects]
    focus = None if chosen is None else FollowupAspect.of(chosen, chars)
    emotion = (chosen.emotion if chosen is not None else None) or result.emotion
    return FollowupHit(
        item_id=result.id,
        kind=result.kind,
        reasons=tuple(reasons),
        segment=segment_of(result.meta),
        date=None if (day := item_date(result)) is None else day.isoformat(),
        aspect=focus,
        other_aspects=tuple(FollowupAspect.of(a, chars) for a in others),
        text=focus.text if focus is not None else shorten(result.text, chars),
        negative_probability=evidence_round(max(readings, default=sentiment.negative_probability)),
        emotion=None if emotion is None else emotion.label,
        trajectory=call.trajectory if call is not None else "",
        call_reasons=call.reasons if call is not None and call.abnormal else (),
    )


def followup_id(item_id: str) -> str:
    """Deterministic: one entry per item, however often it is analysed."""
    return "fu-" + hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:16]


def _labelled(aspect: FollowupAspect | None, labels: Mapping[str, str]) -> FollowupAspect | None:
    if aspect is None or aspect.theme is None:
        return aspect
    return replace(aspect, theme_label=labels.get(aspect.theme, aspect.theme))


def _reason(hit: FollowupHit, tier: str | None) -> str:
    parts = []
    for code in hit.reasons:
        if code == "top_tier_negative":
            about = f"「{hit.text}」" if hit.text else ""
            parts.append(f"{tier}客户负面反馈{about}（负面概率 {hit.negative_probability:.2f}）")
        else:
            why = "、".join(ABNORMAL_REASONS[r] for r in hit.call_reasons if r in ABNORMAL_REASONS)
            parts.append(f"{FOLLOWUP_REASONS[code]}{f'：{why}' if why else ''}")
    return "；".join(parts)


def listed(
    hits: Iterable[FollowupHit], rules: AlertRules, now: datetime, theme_labels: Mapping[str, str] | None = None
) -> list[Followup]:
    """The entries of `hits`, due within their tier's deadline from `now`, most urgent first (due time,
    then the most negative), an item once. `theme_labels` (id → label) names the aspects' themes."""
    time = stamp(now)
    labels = theme_labels or {}
    entries: dict[str, Followup] = {}
    for hit in hits:
        segment = dict(hit.segment)
        tier = segment.get("tier")
        hours = rules.deadline_hours_for(tier)
        aspect = _labelled(hit.aspect, labels)
        entry = Followup(
            id=followup_id(hit.item_id),
            item_id=hit.item_id,
            kind=hit.kind,
            reasons=hit.reasons,
            reason=_reason(hit, tier),
            segment=segment,
            date=hit.date,
            aspect=aspect,
            other_aspects=tuple(a for a in (_labelled(o, labels) for o in hit.other_aspects) if a is not None),
            text=hit.text,
            negative_probability=hit.negative_probability,
            emotion=hit.emotion,
            emotion_name=None if hit.emotion is None else EMOTION_NAMES[hit.emotion],
            department=rules.routing.department_for(None if aspect is None else aspect.theme),
            deadline_hours=hours,
            due=(now + timedelta(hours=hours)).isoformat(timespec="seconds"),
            listed_at=time,
            trajectory=hit.trajectory,
        )
        entries.setdefault(entry.id, entry)  # the same item twice (two files): listed once
    return sorted(entries.values(), key=lambda f: (f.due, -f.negative_probability, f.item_id))


def list_followups(
    results: Iterable[Result], rules: AlertRules, now: datetime, theme_labels: Mapping[str, str] | None = None
) -> list[Followup]:
    """The follow-up list of `results` (a list or a stream; only the entries' fields are kept)."""
    hits = (hit for result in results if (hit := followup_hit(result, rules)) is not None)
    return listed(hits, rules, now, theme_labels)


class _Named(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def label(self) -> str: ...


def theme_labels(*groups: Iterable[_Named]) -> dict[str, str]:
    """Theme id → label from taxonomy themes, discovered themes, …; a later group wins."""
    return {theme.id: theme.label for group in groups for theme in group}
