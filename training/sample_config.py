"""The demo sample's tunables (``SampleConfig``), the seeded draws and the whitespace rule that the calls
(training.sample_calls) and the survey (training.make_samples) share."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, timedelta

Weights = tuple[tuple[str, float], ...]
# Runs of whitespace (newlines too), collapsed in chat turns and in survey answers alike.
WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class SampleConfig:
    """Every tunable of the sample; the defaults build the committed files."""

    seed: int = 20260907
    n_calls: int = 300
    n_txt_calls: int = 40
    n_answers: int = 3000
    min_turns: int = 4
    max_review_chars: int = 200
    first_day: date = date(2026, 9, 7)
    n_days: int = 70
    tiers: Weights = (("钻石", 0.06), ("黄金", 0.16), ("白银", 0.30), ("基础", 0.48))
    # The chats are online text chats, so phone follow-up is rare for them.
    chat_channels: Weights = (("在线客服", 0.55), ("APP", 0.33), ("微信", 0.10), ("电话回访", 0.02))
    survey_channels: Weights = (("APP", 0.35), ("微信", 0.30), ("电话回访", 0.20), ("在线客服", 0.15))
    regions: Weights = (
        ("华东", 0.28),
        ("华南", 0.18),
        ("华北", 0.17),
        ("华中", 0.12),
        ("西南", 0.11),
        ("东北", 0.08),
        ("西北", 0.06),
    )
    waimai_share: float = 0.20
    base_negative_share: float = 0.35
    planted_product: str = "外卖"
    planted_region: str = "华东"
    planted_days: int = 14
    planted_negative_share: float = 0.75
    # Extra answers reserved for the planted cell, so it has the volume an alert test needs.
    planted_extra_share: float = 0.025
    nps_noise: float = 0.04
    positive_top_share: float = 0.82
    negative_low_share: float = 0.85
    nps_positive_top: Weights = (("8", 0.30), ("9", 0.35), ("10", 0.35))
    nps_negative_low: Weights = (("0", 0.10), ("1", 0.10), ("2", 0.15), ("3", 0.20), ("4", 0.20), ("5", 0.25))
    timestamp_every: int = 3
    continuation_every: int = 4


def weighted_choice(rng: random.Random, weights: Weights) -> str:
    """Draw one label from (label, weight) pairs."""
    labels = [label for label, _ in weights]
    return rng.choices(labels, weights=[w for _, w in weights])[0]


def random_day(rng: random.Random, cfg: SampleConfig, last_days: int | None = None) -> date:
    """A day in the sample window, or in its last ``last_days`` days."""
    first = cfg.n_days - last_days if last_days else 0
    return cfg.first_day + timedelta(days=rng.randrange(first, cfg.n_days))
