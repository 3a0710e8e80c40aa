"""Which emotion a negative text shows: 愤怒, 焦虑, 失望, 厌恶 or 悲伤.

Two kinds of evidence add up per emotion: negative cue words that DUTIR's emotion ontology classes
(mapped to these five in training/build_lexicon.py, documented in data/README.md), and domain
phrases a customer-service analyst reads as an emotion (投诉/12315 → 愤怒, 什么时候能 → 焦虑,
再也不买 → 失望), which are matched as substrings because jieba splits many of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

EMOTIONS = ("愤怒", "焦虑", "失望", "厌恶", "悲伤")


@dataclass(frozen=True)
class EmotionPhrase:
    phrase: str
    emotion: str
    weight: float


def pick_emotion(
    negative_cues: Iterable[tuple[str, float]],
    text: str,
    word_emotions: Mapping[str, tuple[str, float]],
    phrases: Iterable[EmotionPhrase],
) -> str | None:
    """The emotion with the most evidence, or None when nothing points to one.

    ``negative_cues`` are (lexicon word, |weight| after negation and degree) of the cues that
    pulled the text negative, so a negated word (不生气) gives no evidence. Ties go to the emotion
    listed first in EMOTIONS, which orders them by how urgently a business should react.
    """
    totals = dict.fromkeys(EMOTIONS, 0.0)
    for word, strength in negative_cues:
        found = word_emotions.get(word)
        if found is not None:
            emotion, weight = found
            totals[emotion] += strength * weight
    for phrase in phrases:
        if phrase.phrase in text:
            totals[phrase.emotion] += phrase.weight
    best = max(EMOTIONS, key=lambda e: (totals[e], -EMOTIONS.index(e)))
    return best if totals[best] > 0 else None
