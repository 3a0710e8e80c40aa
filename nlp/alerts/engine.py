"""The alert engine: (tallied results, rules, state, now) → (new alerts, new state).

An alert is raised once per condition: the id is a hash of the rule and the condition (theme, segment
and window; for a severe item, the item), and when several rules fire for the same theme, segment and
window they make one alert (the first rule in config order names it, the others are listed in
`also_matched`). A condition that persists updates its alert's evidence; after a resolution the same
theme and segment stay quiet for the cooldown. Deadlines are checked on every evaluation: an open
alert past its deadline is escalated, and later expired.

Results are tallied one at a time by an `AlertAccumulator` (nlp.alerts.tally), so any number of them
is evaluated in memory bounded by the cells of the rules, not by the results; `evaluate(results, ...)`
is that accumulator fed with the results. The rules read the tallies in nlp.alerts.candidates. The
share and rise rules count aspect mentions (nlp.alerts.mentions); the NPS drop rules count answers with
an NPS, per segment and week. The same accumulator keeps the
follow-up list (nlp.alerts.followups): single answers to call back, which are not alerts.

Nothing here reads files, clocks or the environment: `now` is passed in, so weeks can be replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from nlp.alerts.candidates import (
    Candidate,
    baselines,
    nps_drop_candidates,
    rise_candidates,
    severe_candidates,
    share_candidates,
)
from nlp.alerts.followups import Followup, FollowupHit, followup_hit, listed
from nlp.alerts.mentions import Mentions
from nlp.alerts.model import Alert, AlertState, HistoryEntry, Window, apply_deadline, resolved_at, stamp
from nlp.alerts.rules import AlertRules
from nlp.alerts.tally import (
    Grouping,
    GroupKey,
    GroupTally,
    NpsTally,
    SevereHit,
    is_detractor,
    item_date,
    nps_score,
    severe_hit,
)
from nlp.schema import Result

# --- accumulation ------------------------------------------------------------------------------------


class AlertAccumulator:
    """The tallies every rule of `rules` reads, fed one result at a time (`add`, `update`).

    Per cell of a grouping (theme, segment, window) it keeps two counts and at most
    `rules.max_examples` examples; per item a severe rule matches, the few fields of its alert; per
    item that enters the follow-up list, the few fields of its entry. `evaluate(state, now)` runs the
    rules over what was added and `followups(now)` lists the entries; neither changes the accumulator,
    so it may be fed more and evaluated again.
    """

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self.items_ = 0
        groupings = [Grouping.of(rule) for rule in rules.share] + [Grouping.of(rule) for rule in rules.rise]
        groupings += [Grouping.baseline_of(rule) for rule in rules.share if rule.baseline != "none"]
        # Rules that group alike (say a share and a rise rule on theme × region) share the cells.
        self._cells: dict[Grouping, dict[GroupKey, GroupTally]] = {g: {} for g in groupings}
        self._severe: list[list[SevereHit]] = [[] for _ in rules.severe]
        self._detractors = any(g.signal == "detractor" for g in groupings)
        # NPS drop rules keep promoters as well as detractors: cells of their own, shared alike.
        self._nps: dict[Grouping, dict[GroupKey, NpsTally]] = {Grouping.nps_of(rule): {} for rule in rules.nps_drop}
        # One entry per item to call back: the list is the point, so it grows with them (a few fields each).
        self._followups: list[FollowupHit] = []

    def add(self, result: Result) -> None:
        """Count one result's mentions in every grouping it can be placed in, keep it if a severe rule
        matches, and note it if it enters the follow-up list. Items without a date, or without the
        grouping's signal (no NPS), are left out of groupings."""
        arrival = self.items_
        self.items_ += 1
        day = item_date(result)
        if day is not None and (self._cells or self._nps):
            mentions = Mentions.of(result)
            detractor = is_detractor(result) if self._detractors else None
            for grouping, cells in self._cells.items():
                for key, bad, mention in grouping.places(result.meta, day, mentions, detractor):
                    tally = cells.get(key)
                    if tally is None:
                        tally = cells[key] = GroupTally(self.rules.max_examples, self.rules.example_chars)
                    tally.add(result.id, mention, bad, (-mention.negative_probability, result.id, arrival))
            score = nps_score(result) if self._nps else None
            if score is not None:
                self._add_nps(result.id, result.meta, day, mentions, score, arrival)
        for rule, hits in zip(self.rules.severe, self._severe, strict=True):
            hit = severe_hit(result, rule, self.rules)
            if hit is not None:
                hits.append(hit)
        entry = followup_hit(result, self.rules)
        if entry is not None:
            self._followups.append(entry)

    def _add_nps(
        self, item_id: str, meta: Mapping[str, Any], day: date, mentions: Mentions, score: float, arrival: int
    ) -> None:
        for grouping, cells in self._nps.items():
            # A "detractor" grouping without themes places the answer once, in its segment and week.
            for key, _, mention in grouping.places(meta, day, mentions, True):
                tally = cells.get(key)
                if tally is None:
                    tally = cells[key] = NpsTally(self.rules.max_examples, self.rules.example_chars)
                tally.add(item_id, mention, score, (-mention.negative_probability, item_id, arrival))

    def update(self, results: Iterable[Result]) -> AlertAccumulator:
        """`add` each result (a list or a stream); returns the accumulator."""
        for result in results:
            self.add(result)
        return self

    def candidates(self, now: datetime) -> list[Candidate]:
        """What every rule finds in the tallies, in config order (share, rise, NPS drop, severe rules)."""
        found: list[Candidate] = []
        for share_rule in self.rules.share:
            reference = (
                baselines(self._cells[Grouping.baseline_of(share_rule)]) if share_rule.baseline != "none" else {}
            )
            found += share_candidates(self._cells[Grouping.of(share_rule)], reference, share_rule)
        for rise_rule in self.rules.rise:
            found += rise_candidates(self._cells[Grouping.of(rise_rule)], rise_rule)
        for nps_rule in self.rules.nps_drop:
            found += nps_drop_candidates(self._nps[Grouping.nps_of(nps_rule)], nps_rule)
        for severe_rule, hits in zip(self.rules.severe, self._severe, strict=True):
            found += severe_candidates(hits, severe_rule, now)
        return found

    def evaluate(self, state: AlertState, now: datetime) -> tuple[list[Alert], AlertState]:
        """Run every rule over what was added; return the alerts raised now (to be delivered) and the
        new state (see `evaluate`)."""
        stamp(now)
        return _assemble(self.candidates(now), self.rules, state, now)

    def followups(self, now: datetime, theme_labels: Mapping[str, str] | None = None) -> list[Followup]:
        """The follow-up list (回访清单) of what was added: due within each tier's deadline from `now`,
        most urgent first; `theme_labels` (id → label) names the aspects' themes."""
        return listed(self._followups, self.rules, now, theme_labels)


def evaluate(
    results: Iterable[Result], rules: AlertRules, state: AlertState, now: datetime
) -> tuple[list[Alert], AlertState]:
    """Run every rule over `results`; return the alerts raised now (to be delivered) and the new state.

    Existing alerts whose condition holds again get fresh evidence; every open alert's deadline is
    checked against `now` (escalation, expiry). Pass all results of the windows of interest: evidence
    is computed from what is passed, not accumulated across calls. `results` may be a stream: it is
    tallied one result at a time (`AlertAccumulator`).
    """
    stamp(now)
    return AlertAccumulator(rules).update(results).evaluate(state, now)


# --- alerts ------------------------------------------------------------------------------------------


def _alert_id(candidate: Candidate) -> str:
    """Deterministic: the rule and the condition (theme, segment, window; or the item of a severe alert)."""
    condition: list[Any] = [candidate.theme, sorted(candidate.segment.items())]
    condition += [candidate.item_id] if candidate.item_id else [candidate.window.start, candidate.window.end]
    payload = json.dumps([candidate.rule, *condition], ensure_ascii=False)
    return "al-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _deadline_hours(candidate: Candidate, rules: AlertRules) -> float:
    hours = candidate.deadline_hours if candidate.deadline_hours is not None else rules.deadlines.default_hours
    if candidate.segment.get("tier") in rules.deadlines.top_tiers:
        hours = min(hours, rules.deadlines.top_tier_hours)
    return hours


def _raise(candidate: Candidate, also: tuple[str, ...], rules: AlertRules, now: datetime) -> Alert:
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
        department=candidate.department or rules.routing.department_for(candidate.theme),
        deadline=deadline,
        status="open",
        created_at=time,
        updated_at=time,
        history=(HistoryEntry(time, "open", candidate.evidence.reason),),
        also_matched=also,
        item_id=candidate.item_id,
    )


def _refresh(alert: Alert, candidate: Candidate, now: datetime) -> Alert:
    """The same condition again: new evidence on the existing alert, no new alert. A later window of
    a condition still open moves the alert to that window (the condition goes on)."""
    if alert.status not in ("open", "acknowledged") or (
        alert.evidence == candidate.evidence and alert.window == candidate.window
    ):
        return alert
    time = stamp(now)
    old, new = alert.evidence, candidate.evidence
    if new.nps is not None and old.nps is not None:
        note = f"证据更新：NPS {old.nps:.1f} → {new.nps:.1f}（{new.count} 份）"
        if candidate.window != alert.window:
            note = (
                f"条件持续：{candidate.window.start}–{candidate.window.end} NPS 仍周环比下降"
                f"（{new.previous_nps:.1f} → {new.nps:.1f}，此前 {alert.window.start}–{alert.window.end} "
                f"为 {old.previous_nps:.1f} → {old.nps:.1f}）"
            )
    elif candidate.window != alert.window:
        note = (
            f"条件持续：{candidate.window.start}–{candidate.window.end} 仍超限（{new.negatives}/{new.count}，"
            f"此前 {alert.window.start}–{alert.window.end} 为 {old.negatives}/{old.count}）"
        )
    else:
        note = f"证据更新：{old.negatives}/{old.count} → {new.negatives}/{new.count}"
    return replace(
        alert,
        window=candidate.window,
        evidence=new,
        updated_at=time,
        history=(*alert.history, HistoryEntry(time, alert.status, note)),
    )


def _ongoing(candidates: list[Candidate]) -> tuple[list[Candidate], dict[int, list[Window]]]:
    """One candidate per condition (theme, segment) and rule: the latest window's, with the earlier
    windows it also breached (by the candidate's id()). A condition that breaches week after week is
    one problem for its department, not one alert a week."""
    latest: dict[tuple[Any, ...], Candidate] = {}
    windows: dict[tuple[Any, ...], list[Window]] = {}
    for candidate in candidates:
        if candidate.item_id is not None:
            latest[("item", candidate.item_id, candidate.rule)] = candidate
            continue
        key = (candidate.theme, tuple(sorted(candidate.segment.items())), candidate.rule)
        windows.setdefault(key, []).append(candidate.window)
        known = latest.get(key)
        if known is None or candidate.window.end > known.window.end:
            latest[key] = candidate
    earlier = {
        id(c): sorted((w for w in windows.get(key, []) if w != c.window), key=lambda w: w.start)
        for key, c in latest.items()
    }
    return list(latest.values()), earlier


def _key_of(alert: Alert) -> tuple[Any, ...]:
    if alert.item_id is not None:
        return ("item", alert.item_id)
    return ("window", alert.theme, tuple(sorted(alert.segment.items())), alert.window)


def _cooldown_ends(state: AlertState, rules: AlertRules) -> dict[tuple[Any, ...], datetime]:
    """When the cooldown after the latest resolution of each condition (theme, segment) ends."""
    cooldown = timedelta(hours=rules.cooldown_hours)
    ends: dict[tuple[Any, ...], datetime] = {}
    for alert in state.alerts:
        when = resolved_at(alert)
        if when is not None and (alert.condition not in ends or when + cooldown > ends[alert.condition]):
            ends[alert.condition] = when + cooldown
    return ends


def _cooling_down(candidate: Candidate, cooldown_ends: dict[tuple[Any, ...], datetime], now: datetime) -> bool:
    if candidate.kind == "severe":
        return False
    end = cooldown_ends.get((candidate.theme, tuple(sorted(candidate.segment.items()))))
    return end is not None and now < end


def _assemble(
    candidates: list[Candidate], rules: AlertRules, state: AlertState, now: datetime
) -> tuple[list[Alert], AlertState]:
    """Merge the candidates of one condition, raise the new conditions (unless cooling down), refresh
    the evidence of known ones, then check every open alert's deadline."""
    merged: dict[tuple[Any, ...], list[Candidate]] = {}
    latest, earlier = _ongoing(candidates)
    for candidate in latest:
        merged.setdefault(candidate.key, []).append(candidate)
    existing = {_key_of(a): a for a in state.alerts}
    # The open (or acknowledged) alert of each condition: a later window of it refreshes that alert.
    ongoing = {a.condition: a for a in state.alerts if a.item_id is None and a.status in ("open", "acknowledged")}
    cooldown_ends = _cooldown_ends(state, rules) if any(c.kind != "severe" for c in candidates) else {}
    # AlertState.with_alert (replace by id, else append) on a list indexed by id: a big run raises an
    # alert per severe item, thousands of them, and a new tuple per alert would be quadratic.
    alerts = list(state.alerts)
    places: dict[str, list[int]] = {}
    for index, alert in enumerate(alerts):
        places.setdefault(alert.id, []).append(index)

    def put(alert: Alert) -> None:
        if alert.id not in places:
            places[alert.id] = [len(alerts)]
            alerts.append(alert)
        for index in places[alert.id]:
            alerts[index] = alert

    raised: set[str] = set()
    for key, group in merged.items():
        primary = group[0]
        also = tuple(dict.fromkeys(c.rule for c in group[1:] if c.rule != primary.rule))
        known = existing.get(key)
        if known is None and primary.item_id is None:
            known = ongoing.get((primary.theme, tuple(sorted(primary.segment.items()))))
            if known is not None and primary.window.end < known.window.end:
                continue  # an older window of a condition already open: nothing new
        if known is not None:
            # Evidence is refreshed from the rule that raised the alert, so it keeps its meaning.
            same_rule = next((c for c in group if c.rule == known.rule), None)
            if same_rule is not None:
                put(_refresh(known, same_rule, now))
        elif not _cooling_down(primary, cooldown_ends, now):
            alert = _raise(primary, also, rules, now)
            if before := earlier.get(id(primary)):
                spans = "、".join(f"{w.start}–{w.end}" for w in before)
                note = HistoryEntry(alert.created_at, "open", f"此前已超限：{spans}")
                alert = replace(alert, history=(*alert.history, note))
            raised.add(alert.id)
            put(alert)
    new_state = AlertState(tuple(apply_deadline(a, rules, now) for a in alerts))
    return [a for a in new_state.alerts if a.id in raised], new_state
