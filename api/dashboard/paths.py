"""根因路径: from demands (themes) to the negative aspects customers name (term·opinion: 物流·慢,
包装·破损) to the scores they gave (NPS 0–6 低分, 7–8 中评, 9–10 高分, or none), built from what occurs
together in the same answer or call. A pure function over results (`root_cause_paths`), drawn as a
Sankey by the page.

Each (item, theme, aspect pair) counts once: an answer that says 物流慢 twice is one customer who
finds the logistics slow. A demand → aspect flow is the number of such units, an aspect → score flow
the same units split by their item's score, so every aspect node has as much in as out. Only the
customer's negative aspects count (in a call, not the agent's turns, as nlp.alerts.mentions reads a
call); the rarer pairs are merged into one "其他" node.

It reads results in their stored JSON form (Result.to_dict): the page reads thousands of them, and
parsing each into a Result would cost more than the rest of the page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nlp.heatmap import UNASSIGNED

# The score an item's aspects flow to: NPS as the standard split reads it, or no score at all.
BUCKETS: tuple[tuple[str, str], ...] = (
    ("detractor", "低分（0–6）"),
    ("passive", "中评（7–8）"),
    ("promoter", "高分（9–10）"),
    ("none", "未评分"),
)
OTHER_PAIR = "其他"
MAX_PAIRS = 14


def bucket_of(stored: Mapping[str, Any]) -> str:
    """The score bucket of a stored result's NPS (0–10, as nlp.alerts.tally.nps_score reads it)."""
    raw = (stored.get("meta") or {}).get("nps")
    try:
        score = float(raw) if raw is not None and raw != "" and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        score = None
    if score is None or not 0.0 <= score <= 10.0:
        return "none"
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


@dataclass(frozen=True)
class PathTally:
    """The units of one demand → aspect pair, by score bucket."""

    theme: str
    pair: str
    buckets: Mapping[str, int]

    @property
    def units(self) -> int:
        return sum(self.buckets.values())

    @property
    def scored(self) -> int:
        return self.units - self.buckets.get("none", 0)

    @property
    def detractor_share(self) -> float | None:
        """Of the units whose item has an NPS, the share given by detractors."""
        return self.buckets.get("detractor", 0) / self.scored if self.scored else None


def pair_of(aspect: Mapping[str, Any]) -> str:
    """物流·慢: the aspect's term and opinion (one alone when the other is missing; else its text)."""
    pair = "·".join(part for part in (aspect.get("term") or "", aspect.get("opinion") or "") if part)
    return pair or str(aspect.get("text") or "")[:12]


def negative_units(stored: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (theme, pair) units of a stored result: its customer's negative aspects, each once."""
    turns = stored.get("turns") or []
    units = set()
    for aspect in stored.get("aspects") or []:
        if aspect.get("label") != "negative":
            continue
        turn = aspect.get("turn")
        if isinstance(turn, int) and 0 <= turn < len(turns) and turns[turn].get("speaker") != "customer":
            continue  # the agent's words ("如需投诉请拨打…") are not the customer's opinion
        pair = pair_of(aspect)
        if pair:
            units.add((aspect.get("theme") or UNASSIGNED.id, pair))
    return units


def root_cause_paths(
    results: Iterable[Mapping[str, Any]], labels: Mapping[str, str], max_pairs: int = MAX_PAIRS
) -> dict[str, Any]:
    """The Sankey of `results` (stored results): nodes (demands, aspect pairs, score buckets; unique
    ids, Chinese names), links (source, target, value), the paths by weight, and how many items were
    read / had a negative aspect. The `max_pairs` pairs with the most units keep their node; the others of a demand flow
    through its "其他" node."""
    counts: Counter[tuple[str, str, str]] = Counter()
    read = negative = 0
    for result in results:
        read += 1
        units = negative_units(result)
        if not units:
            continue
        negative += 1
        bucket = bucket_of(result)
        for theme, pair in units:
            counts[(theme, pair, bucket)] += 1
    by_pair: Counter[str] = Counter()
    for (_, pair, _), n in counts.items():
        by_pair[pair] += n
    kept = {pair for pair, _ in sorted(by_pair.items(), key=lambda kv: (-kv[1], kv[0]))[:max_pairs]}
    paths: dict[tuple[str, str], Counter[str]] = {}
    for (theme, pair, bucket), n in counts.items():
        shown = pair if pair in kept else OTHER_PAIR
        paths.setdefault((theme, shown), Counter())[bucket] += n
    tallied = sorted(
        (PathTally(theme, pair, dict(buckets)) for (theme, pair), buckets in paths.items()),
        key=lambda p: (-p.buckets.get("detractor", 0), -p.units, p.theme, p.pair),
    )
    nodes: dict[str, dict[str, Any]] = {}
    theme_links: Counter[tuple[str, str]] = Counter()
    score_links: Counter[tuple[str, str]] = Counter()
    for path in tallied:
        theme_node, pair_node = f"t:{path.theme}", f"p:{path.pair}"
        nodes.setdefault(theme_node, {"id": theme_node, "name": labels.get(path.theme, path.theme), "layer": 0})
        nodes.setdefault(pair_node, {"id": pair_node, "name": path.pair, "layer": 1})
        theme_links[(theme_node, pair_node)] += path.units
        for bucket, n in path.buckets.items():
            score_links[(pair_node, f"s:{bucket}")] += n
    for key, name in BUCKETS:
        if any(target == f"s:{key}" for _, target in score_links):
            nodes[f"s:{key}"] = {"id": f"s:{key}", "name": name, "layer": 2}
    links = [{"source": s, "target": t, "value": v} for (s, t), v in [*theme_links.items(), *score_links.items()]]
    return {
        "items": read,
        "negative_items": negative,
        "nodes": list(nodes.values()),
        "links": links,
        "paths": [
            {
                "theme": p.theme,
                "label": labels.get(p.theme, p.theme),
                "pair": p.pair,
                "units": p.units,
                "buckets": {key: p.buckets.get(key, 0) for key, _ in BUCKETS},
                "detractor_share": p.detractor_share,
            }
            for p in tallied
        ],
    }
