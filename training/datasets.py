"""The three-way and emotion data sets of ``../shared/data``, read once, with their dev splits.

- **JDDC satisfaction** (``transcripts/jddc_satisfaction_valid.txt``): customer-service dialogues,
  each line ``[turns]<TAB>[act ids]<TAB>satisfaction`` with turns ``'user text|||agent reply'`` and
  satisfaction 0 dissatisfied / 1 neutral / 2 satisfied, read as negative / neutral / positive at the
  line's last customer turn. Traps: each dialogue appears as many lines, each a longer prefix (then a
  16-turn sliding window) of the same dialogue, so lines are grouped into dialogues and split by
  dialogue; each dialogue ends with a line whose last "user turn" is the marker ``OVERALL`` (the
  whole dialogue's label, not customer text), which is left out.
- **SMP2020-EWECT** (``emotion/ewect_*.tsv``): Weibo posts, ``label<TAB>text``, six emotions. The
  "usual" (everyday) eval file is split into a dev part and a training part; the "virus" files all
  train. The usual test split is not in the folder and is never read.

Splits are seeded and stratified, so a recipe names them by seed alone.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.model_selection import train_test_split

from nlp.normalize import normalize

JDDC_FILE = Path("transcripts") / "jddc_satisfaction_valid.txt"
EWECT_USUAL = Path("emotion") / "ewect_usual_eval.tsv"
EWECT_VIRUS = tuple(Path("emotion") / f"ewect_virus_{part}.tsv" for part in ("train", "eval", "test"))
POLARITY = ("negative", "neutral", "positive")  # JDDC satisfaction 0 / 1 / 2, in that order
EMOTIONS = ("angry", "sad", "fear", "surprise", "happy", "neutral")  # EWECT's names and order
# The polarity an EWECT emotion implies; surprise can go either way and teaches polarity nothing.
EMOTION_POLARITY = {"angry": 0, "sad": 0, "fear": 0, "happy": 2, "neutral": 1}
OVERALL_MARKER = "OVERALL"
TURN_SEPARATOR = "|||"


@dataclass(frozen=True)
class JddcLine:
    dialogue: int
    user_turns: tuple[str, ...]
    label: int  # index into POLARITY

    @property
    def last_turn(self) -> str:
        return self.user_turns[-1]


@dataclass
class ReadReport:
    lines: int = 0
    kept: int = 0
    unparsable: int = 0
    overall_lines: int = 0
    dialogues: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Labelled:
    """Normalised texts with class indices."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.texts)


def _is_continuation(previous: Sequence[str], current: Sequence[str]) -> bool:
    """A line continues the previous dialogue when it extends it, or slides its window by one turn."""
    if len(current) > len(previous) and list(current[: len(previous)]) == list(previous):
        return True
    return len(current) == len(previous) and list(current[:-1]) == list(previous[1:])


def read_jddc(path: Path) -> tuple[list[JddcLine], ReadReport]:
    """Labelled lines with their dialogue number; malformed lines are counted and skipped, not fatal."""
    report = ReadReport()
    lines: list[JddcLine] = []
    previous: list[str] | None = None
    dialogue = -1
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            report.lines += 1
            try:
                turns_field, _acts, label_field = raw.rstrip("\n").split("\t")
                turns = ast.literal_eval(turns_field)  # a Python list literal with single quotes
                label = int(label_field)
                if not isinstance(turns, list) or not turns or label not in (0, 1, 2):
                    raise ValueError("turns must be a non-empty list and satisfaction 0, 1 or 2")
                users = [str(turn).split(TURN_SEPARATOR)[0].strip() for turn in turns]
            except (ValueError, SyntaxError) as error:
                report.unparsable += 1
                if len(report.errors) < 5:
                    report.errors.append(f"{path.name}:{number}: {error}")
                previous = None
                continue
            if previous is None or not _is_continuation(previous, users):
                dialogue += 1
            previous = users
            if users[-1] == OVERALL_MARKER:
                report.overall_lines += 1
                continue
            kept = tuple(normalize(u) for u in users if u and u != OVERALL_MARKER)
            if kept and kept[-1]:
                lines.append(JddcLine(dialogue, kept, label))
    report.kept = len(lines)
    report.dialogues = dialogue + 1
    return lines, report


def split_by_dialogue(lines: Sequence[JddcLine], seed: int, dev_share: float) -> tuple[list[JddcLine], list[JddcLine]]:
    """Train / dev by dialogue, stratified by each dialogue's majority label: no dialogue is on both sides."""
    by_dialogue: dict[int, list[int]] = {}
    for line in lines:
        by_dialogue.setdefault(line.dialogue, []).append(line.label)
    ids = sorted(by_dialogue)
    majority = [Counter(by_dialogue[i]).most_common(1)[0][0] for i in ids]
    _train_ids, dev_ids = train_test_split(ids, test_size=dev_share, random_state=seed, stratify=majority)
    dev = set(dev_ids)
    return [x for x in lines if x.dialogue not in dev], [x for x in lines if x.dialogue in dev]


def last_turns(lines: Sequence[JddcLine]) -> Labelled:
    return Labelled(tuple(x.last_turn for x in lines), tuple(x.label for x in lines))


def read_ewect(path: Path) -> tuple[Labelled, int]:
    """Texts and emotion indices of an EWECT file (header ``label<TAB>text``), and how many rows were skipped."""
    texts: list[str] = []
    labels: list[int] = []
    skipped = 0
    with path.open(encoding="utf-8") as handle:
        next(handle)
        for raw in handle:
            label, _, text = raw.rstrip("\n").partition("\t")
            text = normalize(text)
            if label not in EMOTIONS or not text:
                skipped += 1
                continue
            texts.append(text)
            labels.append(EMOTIONS.index(label))
    return Labelled(tuple(texts), tuple(labels)), skipped


def split(data: Labelled, seed: int, dev_share: float) -> tuple[Labelled, Labelled]:
    """Stratified train / dev parts of a labelled set."""
    train, dev = train_test_split(list(range(len(data))), test_size=dev_share, random_state=seed, stratify=data.labels)

    def pick(rows: Sequence[int]) -> Labelled:
        return Labelled(tuple(data.texts[i] for i in rows), tuple(data.labels[i] for i in rows))

    return pick(sorted(train)), pick(sorted(dev))


@dataclass(frozen=True)
class TaskData:
    """Everything the three-way and emotion heads train and are selected on."""

    jddc_train: Labelled
    jddc_dev: Labelled
    emotion_train: Labelled  # EWECT virus (all) + the usual training part
    emotion_dev: Labelled  # the usual dev part
    report: ReadReport


def load_tasks(shared: Path, *, seed: int, jddc_dev_share: float, usual_dev_share: float) -> TaskData:
    lines, report = read_jddc(shared / JDDC_FILE)
    train, dev = split_by_dialogue(lines, seed, jddc_dev_share)
    usual, _ = read_ewect(shared / EWECT_USUAL)
    usual_train, usual_dev = split(usual, seed, usual_dev_share)
    texts, labels = list(usual_train.texts), list(usual_train.labels)
    for name in EWECT_VIRUS:
        virus, _ = read_ewect(shared / name)
        texts += virus.texts
        labels += virus.labels
    return TaskData(last_turns(train), last_turns(dev), Labelled(tuple(texts), tuple(labels)), usual_dev, report)


__all__ = [
    "EMOTIONS",
    "EMOTION_POLARITY",
    "POLARITY",
    "JddcLine",
    "Labelled",
    "ReadReport",
    "TaskData",
    "load_tasks",
    "read_ewect",
    "read_jddc",
    "split",
    "split_by_dialogue",
]
