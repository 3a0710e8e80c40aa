"""The rules read the tallies: each condition a rule finds becomes a candidate with its evidence.

A cell counts aspect mentions (nlp.alerts.mentions), so an alert's `count` and `negatives` are mentions
(answers, for the NPS detractor signal). A share rule looks at each cell of its grouping; a rise rule
compares each week's cell with the same cell a week before, and so does an NPS drop rule (the NPS of a
segment's answers, week on week); a severe rule turns each item it matched
into a candidate of its own. The engine (nlp.alerts.engine) merges the candidates of one condition into
one alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from nlp.alerts.model import AlertKind, Evidence, Window
from nlp.alerts.rules import Correction, NpsDropRule, RiseRule, SevereRule, ShareRule, Signal
from nlp.alerts.stats import lower_bound, nps_drop_test, two_proportion_rise
from nlp.alerts.tally import GroupKey, GroupTally, NpsTally, Segment, SevereHit, evidence_round, window_of
from nlp.schema import DIMENSION_NAMES

Cells = Mapping[GroupKey, GroupTally]
_Tally = TypeVar("_Tally", GroupTally, NpsTally)


@dataclass(frozen=True)
class Candidate:
    """A condition some rule found in this evaluation; candidates with the same key become one alert."""

    rule: str
    kind: AlertKind
    theme: str | None
    segment: Mapping[str, str]
    window: Window
    evidence: Evidence
    deadline_hours: float | None
    item_id: str | None = None
    # The rule's own owner; None: the routing of the theme (nlp.alerts.rules.Routing).
    department: str | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        if self.item_id is not None:
            return ("item", self.item_id)
        return ("window", self.theme, tuple(sorted(self.segment.items())), self.window)


def _describe(theme: str | None, segment: Segment) -> str:
    parts = ([theme] if theme else []) + [value for _, value in segment]
    return "·".join(parts) or "全部"


def _segment_words(segment: Mapping[str, str]) -> str:
    return "、".join(DIMENSION_NAMES.get(k, k) for k in segment) or "分组"


def _what(signal: Signal) -> str:
    # The share rules count aspect mentions; NPS belongs to the answer, so detractors count answers.
    return "负面提及" if signal == "negative" else "NPS贬损者"


Totals = Mapping[tuple[str | None, Window], tuple[int, int]]


def baselines(cells: Cells) -> dict[tuple[str | None, Window], tuple[int, int]]:
    """(bad, count) of each (theme, window) of a baseline grouping (theme None: every item)."""
    totals: dict[tuple[str | None, Window], list[int]] = defaultdict(lambda: [0, 0])
    for (theme, _, window), tally in cells.items():
        totals[theme, window][0] += tally.bad
        totals[theme, window][1] += tally.count
    return {key: (bad, count) for key, (bad, count) in totals.items()}


def _baseline(rule: ShareRule, totals: Totals, theme: str | None, window: Window, tally: GroupTally) -> float | None:
    """The share a cell is compared with: the window's overall share, or the theme's share in the
    window's other segments (the cell's own mentions taken out); None without a baseline."""
    if rule.baseline == "none":
        return None
    if rule.baseline == "window":
        bad, count = totals.get((None, window), (0, 0))
    else:
        bad, count = totals.get((theme, window), (0, 0))
        bad, count = bad - tally.bad, count - tally.count
    return bad / count if count > 0 else None


def share_candidates(cells: Cells, totals: Totals, rule: ShareRule) -> list[Candidate]:
    """Cells whose bad share is above the threshold (or the baseline plus the margin), with the
    minimum volume, and whose lower confidence bound is above it too."""
    found = []
    for (theme, segment, window), tally in cells.items():
        count, negatives = tally.count, tally.bad
        share = negatives / count
        baseline = _baseline(rule, totals, theme, window, tally)
        if rule.baseline != "none" and baseline is None:
            continue  # nothing to compare with (the cell is all of the window)
        threshold = rule.threshold if baseline is None else baseline + rule.threshold
        if count < rule.min_volume or share <= threshold:
            continue
        bound = lower_bound(negatives, count, rule.confidence, rule.method)
        if bound <= threshold:
            continue
        what = _what(rule.signal)
        if baseline is None:
            against = f"阈值 {threshold:.1%}"
        elif rule.baseline == "theme":
            against = f"该主题其他{_segment_words(dict(segment))}本期 {baseline:.1%} + {rule.threshold:.0%}"
        else:
            against = f"本期基线 {baseline:.1%} + {rule.threshold:.0%}"
        reason = (
            f"{_describe(theme, segment)} {window.start}~{window.end} {what}占比 {share:.1%} "
            f"({negatives}/{count})，{rule.confidence:.0%} 置信下界 {bound:.1%} > {against}"
        )
        evidence = Evidence(
            count,
            negatives,
            evidence_round(share),
            evidence_round(threshold),
            evidence_round(bound),
            tally.examples(),
            baseline=None if baseline is None else evidence_round(baseline),
            reason=reason,
        )
        found.append(Candidate(rule.name, "share", theme, dict(segment), window, evidence, rule.deadline_hours))
    return found


def _week_on_week(
    cells: Mapping[GroupKey, _Tally], min_volume: int, alpha: float, correction: Correction
) -> list[tuple[str | None, Segment, Window, _Tally, _Tally, float]]:
    """Each week cell with the same cell the week before, when both have `min_volume`, and the level
    each comparison is tested at: `alpha`, or alpha over the number of comparisons of that week."""
    # First the comparisons that can be made (volume in both weeks), to count them for Bonferroni.
    comparisons = []
    for (theme, segment, window), after in cells.items():
        previous_window = window_of(date.fromisoformat(window.start) - timedelta(days=7), "week")
        before = cells.get((theme, segment, previous_window))
        if before is None or before.count < min_volume or after.count < min_volume:
            continue
        comparisons.append((theme, segment, window, before, after))
    per_week: dict[Window, int] = defaultdict(int)
    for _, _, window, _, _ in comparisons:
        per_week[window] += 1
    return [
        (theme, segment, window, before, after, alpha / per_week[window] if correction == "bonferroni" else alpha)
        for theme, segment, window, before, after in comparisons
    ]


def rise_candidates(cells: Cells, rule: RiseRule) -> list[Candidate]:
    """Week cells whose bad share rose from the same cell the week before by more than the margin,
    significantly (Bonferroni over the comparisons of that week, when asked)."""
    found = []
    for theme, segment, window, before, after, alpha in _week_on_week(
        cells, rule.min_volume, rule.alpha, rule.correction
    ):
        k1, n1 = before.bad, before.count
        k2, n2 = after.bad, after.count
        test = two_proportion_rise(k1, n1, k2, n2)
        if test.rise <= rule.min_rise or test.p_value >= alpha:
            continue
        reason = (
            f"{_describe(theme, segment)} {window.start}~{window.end} {_what(rule.signal)}占比环比上升 {test.rise:.1%} "
            f"({k1}/{n1}={test.before:.1%} → {k2}/{n2}={test.after:.1%})，"
            f"z={test.z:.2f}，p={test.p_value:.2g}"
        )
        evidence = Evidence(
            count=n2,
            negatives=k2,
            share=evidence_round(test.after),
            threshold=evidence_round(test.before + rule.min_rise),
            examples=after.examples(),
            previous_count=n1,
            previous_negatives=k1,
            previous_share=evidence_round(test.before),
            p_value=float(f"{test.p_value:.4g}"),
            reason=reason,
        )
        found.append(Candidate(rule.name, "rise", theme, dict(segment), window, evidence, rule.deadline_hours))
    return found


def nps_drop_candidates(cells: Mapping[GroupKey, NpsTally], rule: NpsDropRule) -> list[Candidate]:
    """Segment × week cells whose NPS fell from the same cell the week before by at least `min_drop`
    points, significantly (Bonferroni over the comparisons of that week, when asked)."""
    found = []
    for _, segment, window, before, after, alpha in _week_on_week(cells, rule.min_volume, rule.alpha, rule.correction):
        p1, d1, n1 = before.promoters, before.detractors, before.count
        p2, d2, n2 = after.promoters, after.detractors, after.count
        test = nps_drop_test(p1, d1, n1, p2, d2, n2)
        # Rounded: 42.0 → 37.0 is a drop of 5 points, whatever the floating-point subtraction says.
        if round(test.drop, 6) < rule.min_drop or test.p_value >= alpha:
            continue
        reason = (
            f"{_describe(None, segment)} NPS 周环比下降 {test.drop:.1f} 分（{test.before:.1f} → {test.after:.1f}），"
            f"{window.start}~{window.end} 推荐者 {p2}、贬损者 {d2}，共 {n2} 份"
            f"（上周推荐者 {p1}、贬损者 {d1}，共 {n1} 份），z={test.z:.2f}，p={test.p_value:.2g}"
        )
        evidence = Evidence(
            count=n2,
            negatives=d2,
            share=evidence_round(d2 / n2),
            threshold=evidence_round(test.before - rule.min_drop),
            examples=after.examples(),
            previous_count=n1,
            previous_negatives=d1,
            previous_share=evidence_round(d1 / n1),
            p_value=float(f"{test.p_value:.4g}"),
            reason=reason,
            promoters=p2,
            previous_promoters=p1,
            nps=evidence_round(test.after),
            previous_nps=evidence_round(test.before),
        )
        found.append(
            Candidate(
                rule.name,
                "nps_drop",
                None,
                dict(segment),
                window,
                evidence,
                rule.deadline_hours,
                department=rule.department,
            )
        )
    return found


def severe_candidates(hits: Sequence[SevereHit], rule: SevereRule, now: datetime) -> list[Candidate]:
    """One candidate per matched item, in its day (the day of the evaluation for an undated item)."""
    return [
        Candidate(
            rule.name,
            "severe",
            hit.theme,
            dict(hit.segment),
            window_of(hit.day or now.date(), "day"),
            hit.evidence,
            rule.deadline_hours,
            item_id=hit.item_id,
        )
        for hit in hits
    ]
