"""The alert engine: a pure function of (results, rules, state, now) → (new alerts, new state).

An alert is raised once per condition: the id is a hash of the rule and the condition (theme, segment
and window; for a severe item, the item), and when several rules fire for the same theme, segment and
window they make one alert (the first rule in config order names it, the others are listed in
`also_matched`). A condition that persists updates its alert's evidence; after a resolution the same
theme and segment stay quiet for the cooldown. Deadlines are checked on every evaluation: an open
alert past its deadline is escalated, and later expired.

Nothing here reads files, clocks or the environment: `now` is passed in, so weeks can be replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from nlp.alerts.model import (
    DETRACTOR_MAX_NPS,
    Alert,
    AlertKind,
    AlertState,
    Evidence,
    Example,
    HistoryEntry,
    Window,
    apply_deadline,
    resolved_at,
    stamp,
)
from nlp.alerts.rules import SEGMENT_DIMENSIONS, AlertRules, RiseRule, SevereRule, ShareRule, Signal
from nlp.alerts.stats import lower_bound, two_proportion_rise
from nlp.schema import Result

# --- rules -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """A condition some rule found in this evaluation; candidates with the same key become one alert."""

    rule: str
    kind: AlertKind
    theme: str | None
    segment: Mapping[str, str]
    window: Window
    evidence: Evidence
    deadline_hours: float | None
    item_id: str | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        if self.item_id is not None:
            return ("item", self.item_id)
        return ("window", self.theme, tuple(sorted(self.segment.items())), self.window)


def _item_date(result: Result) -> date | None:
    raw = result.meta.get("date")
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _window(day: date, kind: str) -> Window:
    if kind == "day":
        return Window(day.isoformat(), day.isoformat())
    monday = day - timedelta(days=day.weekday())
    return Window(monday.isoformat(), (monday + timedelta(days=6)).isoformat())


def _signal(result: Result, signal: Signal) -> bool | None:
    """Whether the item counts as bad for this signal; None when it does not take part (no NPS)."""
    if signal == "negative":
        return result.sentiment.label == "negative"
    raw = result.meta.get("nps")
    try:
        nps = float(raw) if raw is not None and raw != "" else None
    except (TypeError, ValueError):
        return None
    return None if nps is None else nps <= DETRACTOR_MAX_NPS


_GroupKey = tuple[str | None, tuple[tuple[str, str], ...], Window]


def _group(
    results: Sequence[Result], per_theme: bool, dimensions: tuple[str, ...], window_kind: str, signal: Signal
) -> dict[_GroupKey, list[tuple[Result, bool]]]:
    """Items by (theme, segment, window), each with its signal. Items lacking a dimension or a date are
    left out of that grouping (they cannot be placed in a cell)."""
    groups: dict[_GroupKey, list[tuple[Result, bool]]] = defaultdict(list)
    for result in results:
        day = _item_date(result)
        bad = _signal(result, signal)
        if day is None or bad is None:
            continue
        values = [result.meta.get(d) for d in dimensions]
        if any(v is None or str(v).strip() == "" for v in values):
            continue
        segment = tuple(sorted(zip(dimensions, (str(v) for v in values), strict=True)))
        themes: Iterable[str | None] = dict.fromkeys(result.themes) if per_theme else (None,)
        for theme in themes:
            groups[(theme, segment, _window(day, window_kind))].append((result, bad))
    return groups


def _examples(members: Iterable[tuple[Result, bool]], rules: AlertRules) -> tuple[Example, ...]:
    """The most negative bad items, one per distinct text (a repeated "太差了" shows nothing new)."""
    bad = sorted((r for r, is_bad in members if is_bad), key=lambda r: (-r.sentiment.negative_probability, r.id))
    examples: dict[str, Example] = {}
    for r in bad:
        if len(examples) >= rules.max_examples:
            break
        text = _shorten(r.text, rules.example_chars)
        examples.setdefault(text, Example(r.id, text, _round(r.sentiment.negative_probability)))
    return tuple(examples.values())


def _round(value: float) -> float:
    # Evidence is compared for equality on a replay and written to JSON: 4 decimals is plenty.
    return round(value, 4)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(theme: str | None, segment: tuple[tuple[str, str], ...]) -> str:
    parts = ([theme] if theme else []) + [value for _, value in segment]
    return "·".join(parts) or "全部"


def _baselines(results: Sequence[Result], rule: ShareRule) -> dict[Window, float]:
    """The share over every item of each window: the reference of a rule with baseline = "window"."""
    totals: dict[Window, list[int]] = defaultdict(lambda: [0, 0])
    for (_, _, window), members in _group(results, False, (), rule.window, rule.signal).items():
        totals[window][0] += sum(bad for _, bad in members)
        totals[window][1] += len(members)
    return {window: bad / count for window, (bad, count) in totals.items()}


def _share_candidates(results: Sequence[Result], rule: ShareRule, rules: AlertRules) -> list[_Candidate]:
    found = []
    baselines = _baselines(results, rule) if rule.baseline == "window" else {}
    for (theme, segment, window), members in _group(
        results, rule.per_theme, rule.dimensions, rule.window, rule.signal
    ).items():
        count = len(members)
        negatives = sum(bad for _, bad in members)
        share = negatives / count
        baseline = baselines.get(window)
        threshold = rule.threshold if baseline is None else baseline + rule.threshold
        if count < rule.min_volume or share <= threshold:
            continue
        bound = lower_bound(negatives, count, rule.confidence, rule.method)
        if bound <= threshold:
            continue
        what = "负面" if rule.signal == "negative" else "NPS贬损者"
        against = f"阈值 {threshold:.1%}" if baseline is None else f"本期基线 {baseline:.1%} + {rule.threshold:.0%}"
        reason = (
            f"{_describe(theme, segment)} {window.start}~{window.end} {what}占比 {share:.1%} "
            f"({negatives}/{count})，{rule.confidence:.0%} 置信下界 {bound:.1%} > {against}"
        )
        evidence = Evidence(
            count,
            negatives,
            _round(share),
            _round(threshold),
            _round(bound),
            _examples(members, rules),
            baseline=None if baseline is None else _round(baseline),
            reason=reason,
        )
        found.append(_Candidate(rule.name, "share", theme, dict(segment), window, evidence, rule.deadline_hours))
    return found


def _rise_candidates(results: Sequence[Result], rule: RiseRule, rules: AlertRules) -> list[_Candidate]:
    groups = _group(results, rule.per_theme, rule.dimensions, "week", rule.signal)
    # First the comparisons that can be made (volume in both weeks), to count them for Bonferroni.
    comparisons = []
    for (theme, segment, window), members in groups.items():
        previous_window = _window(date.fromisoformat(window.start) - timedelta(days=7), "week")
        before = groups.get((theme, segment, previous_window))
        if before is None or len(before) < rule.min_volume or len(members) < rule.min_volume:
            continue
        comparisons.append((theme, segment, window, before, members))
    per_week: dict[Window, int] = defaultdict(int)
    for _, _, window, _, _ in comparisons:
        per_week[window] += 1
    found = []
    for theme, segment, window, before, members in comparisons:
        k1, n1 = sum(bad for _, bad in before), len(before)
        k2, n2 = sum(bad for _, bad in members), len(members)
        test = two_proportion_rise(k1, n1, k2, n2)
        alpha = rule.alpha / per_week[window] if rule.correction == "bonferroni" else rule.alpha
        if test.rise <= rule.min_rise or test.p_value >= alpha:
            continue
        reason = (
            f"{_describe(theme, segment)} {window.start}~{window.end} 负面占比环比上升 {test.rise:.1%} "
            f"({k1}/{n1}={test.before:.1%} → {k2}/{n2}={test.after:.1%})，"
            f"z={test.z:.2f}，p={test.p_value:.2g}"
        )
        evidence = Evidence(
            count=n2,
            negatives=k2,
            share=_round(test.after),
            threshold=_round(test.before + rule.min_rise),
            examples=_examples(members, rules),
            previous_count=n1,
            previous_negatives=k1,
            previous_share=_round(test.before),
            p_value=float(f"{test.p_value:.4g}"),
            reason=reason,
        )
        found.append(_Candidate(rule.name, "rise", theme, dict(segment), window, evidence, rule.deadline_hours))
    return found


def _customer_text(result: Result) -> str:
    # In a call only the customer's words count: an agent saying "如需投诉请拨打…" is not a complaint.
    if result.turns:
        return "\n".join(t.text for t in result.turns if t.speaker == "customer")
    return result.text


def _severe_candidates(
    results: Sequence[Result], rule: SevereRule, rules: AlertRules, now: datetime
) -> list[_Candidate]:
    found = []
    for result in results:
        probability = result.sentiment.negative_probability
        tier = str(result.meta.get("tier", ""))
        reasons = []
        if tier in rule.top_tiers and probability >= rule.min_negative_probability:
            reasons.append(f"{tier}客户 负面概率 {probability:.2f} ≥ {rule.min_negative_probability:.2f}")
        words = [w for w in rule.keywords if w in _customer_text(result)]
        if words and result.emotion in rule.emotions:
            reasons.append(f"提到 {'/'.join(words)} 且情绪为{result.emotion}")
        if not reasons:
            continue
        day = _item_date(result) or now.date()
        segment = {d: str(result.meta[d]) for d in SEGMENT_DIMENSIONS if result.meta.get(d) not in (None, "")}
        evidence = Evidence(
            count=1,
            negatives=int(result.sentiment.label == "negative"),
            share=_round(probability),
            threshold=rule.min_negative_probability,
            examples=(Example(result.id, _shorten(result.text, rules.example_chars), _round(probability)),),
            reason=f"单条严重反馈 {result.id}：" + "；".join(reasons),
        )
        theme = result.themes[0] if result.themes else None
        found.append(
            _Candidate(
                rule.name,
                "severe",
                theme,
                segment,
                _window(day, "day"),
                evidence,
                rule.deadline_hours,
                item_id=result.id,
            )
        )
    return found


def _alert_id(candidate: _Candidate) -> str:
    """Deterministic: the rule and the condition (theme, segment, window; or the item of a severe alert)."""
    condition: list[Any] = [candidate.theme, sorted(candidate.segment.items())]
    condition += [candidate.item_id] if candidate.item_id else [candidate.window.start, candidate.window.end]
    payload = json.dumps([candidate.rule, *condition], ensure_ascii=False)
    return "al-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _deadline_hours(candidate: _Candidate, rules: AlertRules) -> float:
    hours = candidate.deadline_hours if candidate.deadline_hours is not None else rules.deadlines.default_hours
    if candidate.segment.get("tier") in rules.deadlines.top_tiers:
        hours = min(hours, rules.deadlines.top_tier_hours)
    return hours


def _raise(candidate: _Candidate, also: tuple[str, ...], rules: AlertRules, now: datetime) -> Alert:
    time = stamp(now)
    deadline = (now + timedelta(hours=_deadline_hours(candidate, rules))).isoformat(timespec="seconds")
    return Alert(
        id=_alert_id(candidate),
        rule=candidate.rule,
        kind=candidate.kind,
        theme=candidate.theme,
        segment=dict(candidate.segment),
        window=candidate.window,
        evidence=candidate.evidence,
        department=rules.routing.department_for(candidate.theme),
        deadline=deadline,
        status="open",
        created_at=time,
        updated_at=time,
        history=(HistoryEntry(time, "open", candidate.evidence.reason),),
        also_matched=also,
        item_id=candidate.item_id,
    )


def _refresh(alert: Alert, candidate: _Candidate, now: datetime) -> Alert:
    """The same condition again in the same window: new evidence on the existing alert, no new alert."""
    if alert.status not in ("open", "acknowledged") or alert.evidence == candidate.evidence:
        return alert
    time = stamp(now)
    old, new = alert.evidence, candidate.evidence
    note = f"证据更新：{old.negatives}/{old.count} → {new.negatives}/{new.count}"
    return replace(
        alert, evidence=new, updated_at=time, history=(*alert.history, HistoryEntry(time, alert.status, note))
    )


def _key_of(alert: Alert) -> tuple[Any, ...]:
    if alert.item_id is not None:
        return ("item", alert.item_id)
    return ("window", alert.theme, tuple(sorted(alert.segment.items())), alert.window)


def _cooling_down(candidate: _Candidate, state: AlertState, rules: AlertRules, now: datetime) -> bool:
    if candidate.kind == "severe":
        return False
    condition = (candidate.theme, tuple(sorted(candidate.segment.items())))
    cooldown = timedelta(hours=rules.cooldown_hours)
    for alert in state.alerts:
        when = resolved_at(alert)
        if when is not None and alert.condition == condition and now < when + cooldown:
            return True
    return False


def evaluate(
    results: Iterable[Result], rules: AlertRules, state: AlertState, now: datetime
) -> tuple[list[Alert], AlertState]:
    """Run every rule over `results`; return the alerts raised now (to be delivered) and the new state.

    Existing alerts whose condition holds again get fresh evidence; every open alert's deadline is
    checked against `now` (escalation, expiry). Pass all results of the windows of interest: evidence
    is computed from what is passed, not accumulated across calls.
    """
    stamp(now)
    items = list(results)
    candidates: list[_Candidate] = []
    for share_rule in rules.share:
        candidates += _share_candidates(items, share_rule, rules)
    for rise_rule in rules.rise:
        candidates += _rise_candidates(items, rise_rule, rules)
    for severe_rule in rules.severe:
        candidates += _severe_candidates(items, severe_rule, rules, now)

    merged: dict[tuple[Any, ...], list[_Candidate]] = {}
    for candidate in candidates:
        merged.setdefault(candidate.key, []).append(candidate)
    existing = {_key_of(a): a for a in state.alerts}
    new_state = state
    raised: list[Alert] = []
    for key, group in merged.items():
        primary = group[0]
        also = tuple(dict.fromkeys(c.rule for c in group[1:] if c.rule != primary.rule))
        if key in existing:
            # Evidence is refreshed from the rule that raised the alert, so it keeps its meaning.
            same_rule = next((c for c in group if c.rule == existing[key].rule), None)
            if same_rule is not None:
                new_state = new_state.with_alert(_refresh(existing[key], same_rule, now))
        elif not _cooling_down(primary, state, rules, now):
            alert = _raise(primary, also, rules, now)
            raised.append(alert)
            new_state = new_state.with_alert(alert)
    new_state = AlertState(tuple(apply_deadline(a, rules, now) for a in new_state.alerts))
    return [a for a in new_state.alerts if a.id in {r.id for r in raised}], new_state
