"""The promotion gate: which golden evaluation sets, which metrics, what margin; and the values a
comparison and a promotion produce (they are what the CLI prints and the HTTP API returns).

A candidate is refused when, on any golden set, any gated metric is lower than the baseline's (the
active version's) by more than ``margin_points`` percentage points. Both are scored on the same
texts, so the difference is much less noisy than either figure.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.errors import ConfigError
from nlp.resources import data_dir
from nlp.settings import Invalid, from_mapping, read_toml, setting

CONFIG_ENV = "KESHENG_REGISTRY_CONFIG"
GATE_METRICS = ("accuracy", "macro_f1", "roc_auc")


def _shipped_config() -> Path:
    """training/configs/registry.toml, package data of the ``training`` package (in a wheel as in a
    checkout). Located with find_spec, which does not import it: models sits below training."""
    spec = importlib.util.find_spec("training")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("package 'training' is not installed; the shipped registry config is part of it")
    return Path(next(iter(spec.submodule_search_locations))) / "configs" / "registry.toml"


DEFAULT_CONFIG = _shipped_config()


def registry_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$KESHENG_REGISTRY_CONFIG``, else the shipped training/configs/registry.toml."""
    env = os.environ if environ is None else environ
    return Path(env[CONFIG_ENV]).expanduser() if env.get(CONFIG_ENV) else DEFAULT_CONFIG


@dataclass(frozen=True)
class GateConfig:
    """The promotion gate: golden evaluation sets (name → labelled file), the metrics compared and
    the largest drop, in percentage points, a candidate may show against the active version."""

    golden: Mapping[str, Path]
    margin_points: float = setting(1.0, low=0.0)
    metrics: tuple[str, ...] = setting(("accuracy", "macro_f1"), allowed=GATE_METRICS)

    def __post_init__(self) -> None:
        if not self.golden:
            raise Invalid("golden", "must name at least one golden set (name = labelled file)")
        if not self.metrics:
            raise Invalid("metrics", f"must name at least one of {', '.join(GATE_METRICS)}")

    @classmethod
    def load(cls, path: Path = DEFAULT_CONFIG, root: Path | None = None) -> GateConfig:
        """Read the ``[gate]`` table of a TOML file. Relative golden paths are relative to `root`;
        by default the bundled data (``nlp.resources.data_dir``: the committed golden samples) for
        the shipped config, else the config file's folder."""
        if root is None:
            root = data_dir() if path == DEFAULT_CONFIG else path.parent
        return cls.from_dict(read_toml(path).get("gate", {}), str(path), root)

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], source: str, root: Path) -> GateConfig:
        """Validate a parsed ``[gate]`` table (relative golden paths start at `root`); ConfigError
        names `source` and the key."""
        return from_mapping(cls, table, source, root, section="gate")


@dataclass(frozen=True)
class MetricDelta:
    """One metric on one golden set: candidate against baseline."""

    golden_set: str
    metric: str
    candidate: float
    baseline: float
    n: int

    @property
    def delta_points(self) -> float:
        """Candidate minus baseline, in percentage points."""
        return 100.0 * (self.candidate - self.baseline)


def delta_rows(
    deltas: Sequence[MetricDelta], headings: tuple[str, str, str], flagged: Collection[MetricDelta], why: str
) -> list[str]:
    """Plain-text rows: set, metric, baseline, candidate, change in points, and `why` where flagged.
    `headings` names the set column and the two versions."""
    what, baseline, candidate = headings
    lines = [f"{what:<24} {'metric':<9} {baseline:>14} {candidate:>14} {'Δ pt':>7}"]
    for d in deltas:
        flag = f"  ✗ {why}" if d in flagged else ""
        lines.append(
            f"{d.golden_set:<24} {d.metric:<9} {d.baseline:>14.4f} {d.candidate:>14.4f} {d.delta_points:>+7.2f}{flag}"
        )
    return lines


@dataclass(frozen=True)
class Comparison:
    """Two versions on the golden sets, judged against the gate's margin."""

    candidate: str
    baseline: str
    margin_points: float
    deltas: tuple[MetricDelta, ...]

    @property
    def failures(self) -> tuple[MetricDelta, ...]:
        """The (set, metric) pairs where the candidate is worse by more than the margin."""
        return tuple(d for d in self.deltas if d.delta_points < -self.margin_points)

    @property
    def passed(self) -> bool:
        """True when no golden set shows a drop larger than the margin."""
        return not self.failures

    def table(self) -> str:
        """A plain-text table of every figure and its change."""
        headings = ("golden set", self.baseline, self.candidate)
        return "\n".join(delta_rows(self.deltas, headings, self.failures, "worse than the margin"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready comparison (for the API's promotion response)."""
        return {
            "candidate": self.candidate,
            "baseline": self.baseline,
            "margin_points": self.margin_points,
            "passed": self.passed,
            "deltas": [
                {
                    "golden_set": d.golden_set,
                    "metric": d.metric,
                    "candidate": round(d.candidate, 5),
                    "baseline": round(d.baseline, 5),
                    "delta_points": round(d.delta_points, 3),
                    "n": d.n,
                    "within_margin": d not in self.failures,
                }
                for d in self.deltas
            ],
        }


@dataclass(frozen=True)
class PromotionResult:
    """What `promote` did: promoted or not, why, and the numbers it decided on."""

    version: str
    previous: str
    promoted: bool
    forced: bool
    reason: str
    comparison: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result."""
        return {
            "version": self.version,
            "previous": self.previous,
            "promoted": self.promoted,
            "forced": self.forced,
            "reason": self.reason,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
        }


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "GATE_METRICS",
    "Comparison",
    "GateConfig",
    "MetricDelta",
    "PromotionResult",
    "delta_rows",
    "registry_config_path",
]
