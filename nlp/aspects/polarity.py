"""An opinion unit's polarity from three readings: the model's of the unit alone, the model's of its
sentence (of its answer or turn), and the lexicon's of its opinion word with its negator (不贵, 不慢).

Each reading fails on its own. Read alone, the model calls 价格不贵 and 上菜速度不慢 negative and
价格有点贵 positive; the sentence's reading is the same for every unit of a mixed one; the lexicon
knows 贵 and 慢 but not 量很多. A multinomial logistic regression over the three (``FEATURES``) is
fitted by ``training/aspect_polarity.py`` on the restaurant aspect sets of ../shared/data/absa and
shipped as data/aspects/polarity.json, with the scorer version it was fitted on. Readings of another
scorer (a retrained model, the lexicon) get the plain mix of ``AspectConfig`` instead: coefficients
fitted on one model's probabilities mean nothing on another's.

In an answer of several sentences a unit is read against its own sentence, not the whole answer:
the regression learnt on single sentences, and against a whole review of praise a complaint clause
reads as praise (bench/absa.py ``--reviews``). Without any such context reading the regression reads
review clauses about as well, but it learns the restaurant sets' distrust of the model's negative
readings and carries it into customer turns (on JDDC it ranked dissatisfied dialogues below the
plain mix; bench/README.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.errors import ConfigError
from nlp.resources import data_path
from nlp.schema import LABELS, Sentiment

POLARITY_FILE = ("aspects", "polarity.json")
# Hedges that mostly soften a complaint (有点贵, 稍微咸了点, 偏油), rarely praise.
HEDGES = ("有点", "有些", "稍微", "略", "偏")
FEATURES = (
    *(f"own_log_{label}" for label in LABELS),
    *(f"context_log_{label}" for label in LABELS),
    "opinion_polarity",
    "opinion_strength",
    "opinion_in_lexicon",
    "has_opinion",
    "has_term",
    "hedged",
    "negated",
    "negated_opinion_polarity",  # 不贵, 不慢: the model reads the negative word, the lexicon the negation
)
_FLOOR = 1e-4  # log(P) of a class the model rules out stays finite
_CLIP = 1.5  # the lexicon's weights run to ±2; past this they say no more about a unit


def opinion_polarity(opinion: str, polarity: Mapping[str, float]) -> float:
    """The lexicon's weight of an opinion, its negator applied (不贵 → −weight(贵)), clipped to ±1.5."""
    if not opinion:
        return 0.0
    if opinion in polarity:  # 不错, 不满: the negated form is a word of its own
        value = polarity[opinion]
    elif opinion.startswith("不") and len(opinion) > 1:
        value = -polarity.get(opinion[1:], 0.0)
    else:
        value = 0.0
    return max(-_CLIP, min(_CLIP, value))


def unit_features(
    own: Sentiment, context: Sentiment, text: str, term: str, opinion: str, polarity: Mapping[str, float]
) -> list[float]:
    """The ``FEATURES`` of one unit from its three-way reading ``own`` and its sentence's, ``context``."""
    if not own.probabilities or not context.probabilities:
        raise ValueError("unit features need three-way readings (a probability for each label)")
    value = opinion_polarity(opinion, polarity)
    # 不贵 is a negation the model misreads; 不错, 不理 are words of their own, in the lexicon as such.
    negated = opinion.startswith("不") and len(opinion) > 1 and opinion not in polarity
    return [
        *(math.log(own.probabilities[k] + _FLOOR) for k in LABELS),
        *(math.log(context.probabilities[k] + _FLOOR) for k in LABELS),
        value,
        abs(value),
        float(value != 0.0),
        float(bool(opinion)),
        float(bool(term)),
        float(any(h in text for h in HEDGES)),
        float(negated),
        value if negated else 0.0,
    ]


@dataclass(frozen=True)
class UnitPolarity:
    """Fitted coefficients (one row per label of ``LABELS``) for the scorer ``model_version``."""

    model_version: str
    coef: tuple[tuple[float, ...], ...]
    intercept: tuple[float, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)  # what it was fitted on, and its figures

    def __post_init__(self) -> None:
        if len(self.coef) != len(LABELS) or len(self.intercept) != len(LABELS):
            raise ConfigError(f"unit polarity: expected {len(LABELS)} rows of coefficients, one per {LABELS}")
        if any(len(row) != len(FEATURES) for row in self.coef):
            raise ConfigError(f"unit polarity: expected {len(FEATURES)} coefficients a row ({', '.join(FEATURES)})")

    def fits(self, own: Sentiment) -> bool:
        """Whether these coefficients read ``own``: a three-way reading of the scorer they were fitted on."""
        return bool(own.probabilities) and own.model_version == self.model_version

    def probabilities(self, features: Sequence[float]) -> list[float]:
        """P(negative), P(neutral), P(positive) of one unit's features."""
        scores = [
            b + sum(w * x for w, x in zip(row, features, strict=True))
            for row, b in zip(self.coef, self.intercept, strict=True)
        ]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "labels": list(LABELS),
            "features": list(FEATURES),
            "coef": [list(row) for row in self.coef],
            "intercept": list(self.intercept),
            **dict(self.meta),
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | None = None) -> UnitPolarity:
        """Read a polarity file (default: the bundled data/aspects/polarity.json)."""
        path = path or data_path(*POLARITY_FILE)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{path}: cannot read the unit polarity coefficients ({e})") from e
        if raw.get("labels") != list(LABELS) or raw.get("features") != list(FEATURES):
            raise ConfigError(f"{path}: fitted for other labels or features than {LABELS} / {FEATURES}")
        meta = {k: v for k, v in raw.items() if k not in ("model_version", "labels", "features", "coef", "intercept")}
        return cls(
            str(raw["model_version"]),
            tuple(tuple(float(w) for w in row) for row in raw["coef"]),
            tuple(float(b) for b in raw["intercept"]),
            meta,
        )


__all__ = ["FEATURES", "UnitPolarity", "opinion_polarity", "unit_features"]
