"""A version reproduced from its manifest: the new version's figures on the recipe's evaluation sets
against the ones the manifest recorded, within a tolerance either way.

``kesheng train --config <version>/manifest.json`` without ``--data`` is a reproduction (see
training.retrain); the verdict is printed and kept in the new manifest under ``reproduces``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.gate import GATE_METRICS, MetricDelta, delta_rows

# How far a reproduced version's figures may be from the recorded ones, in percentage points.
REPRODUCE_TOLERANCE_POINTS = 0.5


@dataclass(frozen=True)
class Reproduction:
    """A retrain from a version's manifest against the figures that version recorded on the same
    evaluation sets: reproduced when every figure is within `tolerance_points` either way."""

    recorded: str
    deltas: tuple[MetricDelta, ...]
    tolerance_points: float = REPRODUCE_TOLERANCE_POINTS

    @property
    def misses(self) -> tuple[MetricDelta, ...]:
        """The (set, metric) pairs further from the recorded figure than the tolerance."""
        return tuple(d for d in self.deltas if abs(d.delta_points) > self.tolerance_points)

    @property
    def reproduced(self) -> bool:
        """True when there was something to compare and every figure is within the tolerance."""
        return bool(self.deltas) and not self.misses

    def table(self) -> str:
        """A plain-text table: set, metric, recorded, reproduced, change, and the verdict."""
        headings = ("evaluation set", self.recorded, "now")
        lines = delta_rows(self.deltas, headings, self.misses, f"beyond ±{self.tolerance_points:g} pt")
        verdict = "reproduced" if self.reproduced else "NOT reproduced"
        lines.append(f"{verdict}: {self.recorded}'s figures within ±{self.tolerance_points:g} pt")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the new version's manifest."""
        return {
            "version": self.recorded,
            "tolerance_points": self.tolerance_points,
            "reproduced": self.reproduced,
            "deltas": [
                {"set": d.golden_set, "metric": d.metric, "recorded": d.baseline, "now": d.candidate}
                for d in self.deltas
            ],
        }


def reproduction(recorded: Mapping[str, Any], metrics: Mapping[str, Any]) -> Reproduction:
    """The figures in `metrics` (an exported manifest's) against a recorded manifest's, on every
    evaluation set and metric both have."""
    before = recorded.get("metrics") or {}
    deltas = [
        MetricDelta(name, metric, float(metrics[name][metric]), float(figures[metric]), int(metrics[name]["n"]))
        for name, figures in before.items()
        if isinstance(figures, dict) and isinstance(metrics.get(name), dict)
        for metric in GATE_METRICS
        if figures.get(metric) is not None and metrics[name].get(metric) is not None
    ]
    return Reproduction(str(recorded.get("version", "?")), tuple(deltas))


__all__ = ["REPRODUCE_TOLERANCE_POINTS", "Reproduction", "reproduction"]
