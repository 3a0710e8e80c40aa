"""Multi-task fine-tuning on your own labelled texts: the three-way path of ``kesheng train``.

A user source for training.multitask's MultiHeadClassifier: the rows ``training.validate`` accepted
(a polarity label, an emotion, or both) train the model of the version retraining starts from
(``Start``: its ``weights/`` checkpoint when it has one, else its ``model.onnx`` read back by
``training.from_onnx``; a binary version's head becomes the polarity head's negative and positive
rows). Per row and head (``user_loss``):

- a three-way polarity label: cross-entropy over negative / neutral / positive;
- a label of a file with only negative/positive labels (``two_way``): cross-entropy over the
  negative-vs-positive pair alone (the file says which way the text leans, not that it has an
  opinion), and the share of neutral distilled towards the starting version's;
- an emotion: cross-entropy over the six classes, weighted by ``train.emotion_weight``;
- a head the row has no label for: distilled towards the starting version's reading of that text
  (KL divergence at ``train.distill_temperature``, weighted by ``train.distill_weight`` × T²), so
  what your labels do not say is kept rather than forgotten. The starting version's logits on your
  texts are computed once (``<out>/teacher.npz``).

Model selection is on the held-out dev share: the mean of the three-way macro-F1 (rows with a
three-way label), the negative-vs-positive accuracy (rows of a two-way file) and the emotion
macro-F1 (rows with an emotion) that the dev share has, evaluated before the first step too, so a
run that only makes things worse exports the starting weights (a tie goes to the later step).

The loop is training.loop's, which training.train runs too: batches from
``training.schedule.epoch_batches``, the learning rate from ``BudgetSchedule`` (warm-up, linear decay
to the last step or the wall-time budget), progress lines and ``history.jsonl``, ``<out>/last/``
every ``checkpoint_every`` steps (weights, optimiser, scheduler, RNG, data position) to resume from
exactly, ``<out>/best/`` at the best dev score. The recipe (``training.recipe.ThreeWayRecipe``, the
packaged ``training/configs/three_way.toml``) holds every hyper-parameter and the seed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from tokenizers import Tokenizer

from nlp.errors import ConfigError, ModelError
from nlp.schema import EMOTIONS, LABELS
from training.classifier import STATE_FILE, encode
from training.loop import FineTuneLoop, require_same_sections
from training.multitask import (
    IGNORE,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    MultiHeadClassifier,
    forward_by_length,
    from_binary_checkpoint,
    load_multihead,
    predict,
    save,
    start_model,
)
from training.recipe import ThreeWayRecipe, UserTrain
from training.validate import TrainingExample

HEADS_FILE = "heads.json"  # marks a multi-head checkpoint folder (and names its classes)
RECIPE_FILE = "recipe.json"
TEACHER_FILE = "teacher.npz"
PAIR = [NEGATIVE, POSITIVE]
FIGURE_NAMES = {
    "three_way_macro_f1": "three-way macro-F1",
    "binary_accuracy": "negative-vs-positive accuracy",
    "emotion_macro_f1": "emotion macro-F1",
    "score": "score",
}


# ---- the start -------------------------------------------------------------------------------------
@dataclass
class Start:
    """The model training starts from and what it reads: its folder (a registered version), the
    model, its tokenizer and manifest, how it was read, and which heads were trained (a binary
    start has no neutral or emotion reading to keep)."""

    folder: Path
    model: MultiHeadClassifier
    tokenizer: Tokenizer
    manifest: dict[str, Any]
    read_from: str  # "weights/" or "model.onnx"
    three_way: bool
    emotions: bool

    @property
    def text_prefix(self) -> str:
        return str(self.manifest["text_prefix"])

    @property
    def max_length(self) -> int:
        return int(self.manifest["max_length"])


def load_start(folder: Path, dropout: float) -> Start:
    """The multi-head model of the version in `folder`: its ``weights/`` checkpoint (multi-head, or
    binary from ``kesheng train``) when present, else its fused ``model.onnx``."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    weights = folder / "weights"
    if (weights / HEADS_FILE).is_file():
        model, read_from = load_multihead(weights, dropout), "weights/"
    elif (weights / "train_config.json").is_file() and (weights / "model.safetensors").is_file():
        model, read_from = from_binary_checkpoint(weights, dropout), "weights/"
    else:
        model, read_from = start_model(folder, dropout), "model.onnx"
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    three_way = list(manifest.get("labels", [])) == list(LABELS)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    return Start(folder, model, tokenizer, manifest, read_from, three_way, bool(manifest.get("emotions")))


def save_checkpoint(model: MultiHeadClassifier, folder: Path, extra: dict[str, Any]) -> None:
    """A multi-head checkpoint folder: weights, encoder config, state, and the heads' classes."""
    save(model, folder, extra)
    heads = {"polarity": list(LABELS), "emotion": list(EMOTIONS)}
    (folder / HEADS_FILE).write_text(json.dumps(heads) + "\n", encoding="utf-8")


# ---- the loss --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Targets:
    """A batch's labels: polarity (index into LABELS, IGNORE where none), whether each is two-way,
    emotion (index into EMOTIONS, IGNORE where none), and the starting version's logits."""

    polarity: torch.Tensor
    two_way: torch.Tensor
    emotion: torch.Tensor
    teacher_polarity: torch.Tensor
    teacher_emotion: torch.Tensor


def _kl(student: torch.Tensor, teacher: torch.Tensor, t: float) -> torch.Tensor:
    """KL(teacher ‖ student) of softened distributions, per row."""
    return F.kl_div(
        F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1), reduction="none", log_target=True
    ).sum(-1)


def user_loss(
    polarity: torch.Tensor,
    emotion: torch.Tensor,
    targets: Targets,
    train: UserTrain,
    *,
    teacher_three_way: bool,
    teacher_emotions: bool,
) -> torch.Tensor:
    """The mean loss of a batch (see the module docstring). `teacher_three_way` / `teacher_emotions`:
    whether the starting version has a neutral reading / an emotion reading to keep."""
    t, w = train.distill_temperature, train.distill_weight * train.distill_temperature**2
    has_polarity = targets.polarity != IGNORE
    three = has_polarity & ~targets.two_way
    two = has_polarity & targets.two_way
    total = polarity.new_zeros(())
    if three.any():
        total = total + F.cross_entropy(polarity[three], targets.polarity[three], reduction="sum")
    if two.any():
        pair_target = (targets.polarity[two] == POSITIVE).long()
        total = total + F.cross_entropy(polarity[two][:, PAIR], pair_target, reduction="sum")
        if teacher_three_way and w > 0:
            # How neutral the text is: a two-way label does not say, so the start's share is kept.
            p = F.softmax(polarity[two] / t, -1)[:, NEUTRAL].clamp(1e-6, 1 - 1e-6)
            q = F.softmax(targets.teacher_polarity[two] / t, -1)[:, NEUTRAL].clamp(1e-6, 1 - 1e-6)
            total = total + w * (q * (q / p).log() + (1 - q) * ((1 - q) / (1 - p)).log()).sum()
    unlabelled = ~has_polarity
    if unlabelled.any() and w > 0:
        if teacher_three_way:
            total = total + w * _kl(polarity[unlabelled], targets.teacher_polarity[unlabelled], t).sum()
        else:
            pair = polarity[unlabelled][:, PAIR]
            total = total + w * _kl(pair, targets.teacher_polarity[unlabelled][:, PAIR], t).sum()
    has_emotion = targets.emotion != IGNORE
    if has_emotion.any():
        total = total + train.emotion_weight * F.cross_entropy(
            emotion[has_emotion], targets.emotion[has_emotion], reduction="sum"
        )
    if (~has_emotion).any() and teacher_emotions and w > 0:
        total = total + w * _kl(emotion[~has_emotion], targets.teacher_emotion[~has_emotion], t).sum()
    return total / polarity.shape[0]


# ---- the dev figures -------------------------------------------------------------------------------
def dev_figures(
    rows: Sequence[TrainingExample], polarity: npt.NDArray[np.float32], emotion: npt.NDArray[np.float32]
) -> dict[str, float]:
    """The dev share's figures (those its labels allow) and their mean, ``score`` (0 without any)."""
    out: dict[str, float] = {}
    three = [i for i, r in enumerate(rows) if r.polarity is not None and not r.two_way]
    two = [i for i, r in enumerate(rows) if r.polarity is not None and r.two_way]
    moods = [i for i, r in enumerate(rows) if r.emotion is not None]
    if three:
        truth = [int(rows[i].polarity or 0) for i in three]
        out["three_way_macro_f1"] = float(
            f1_score(truth, polarity[three].argmax(1), labels=sorted(set(truth)), average="macro", zero_division=0)
        )
    if two:
        leans = polarity[two][:, POSITIVE] > polarity[two][:, NEGATIVE]
        out["binary_accuracy"] = float(np.mean(leans == np.asarray([rows[i].polarity == POSITIVE for i in two])))
    if moods:
        truth = [int(rows[i].emotion or 0) for i in moods]
        out["emotion_macro_f1"] = float(
            f1_score(truth, emotion[moods].argmax(1), labels=sorted(set(truth)), average="macro", zero_division=0)
        )
    out["score"] = float(np.mean(list(out.values()))) if out else 0.0
    return out


def _targets(
    rows: Sequence[TrainingExample],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    polarity = np.asarray([IGNORE if r.polarity is None else r.polarity for r in rows], dtype=np.int64)
    two_way = np.asarray([r.two_way for r in rows], dtype=np.bool_)
    emotion = np.asarray([IGNORE if r.emotion is None else r.emotion for r in rows], dtype=np.int64)
    return polarity, two_way, emotion


# ---- the loop ---------------------------------------------------------------------------------------
class UserTrainer(FineTuneLoop):
    """One run in `out` on your rows from `start` (training.loop): build or resume, loop, checkpoint,
    keep the best dev score (the start's included).

    `data_sha256` identifies the validated training file: a resumed run must train on the same rows."""

    best_key, best_name = "best_score", "score"
    evaluates_start = True
    model: MultiHeadClassifier

    def __init__(
        self,
        recipe: ThreeWayRecipe,
        start: Start,
        train_rows: Sequence[TrainingExample],
        dev_rows: Sequence[TrainingExample],
        out: Path,
        data_sha256: str,
    ) -> None:
        if recipe.model.head_tokens >= start.max_length:
            raise ConfigError(
                f"model.head_tokens = {recipe.model.head_tokens}: must be below the starting version's "
                f"max_length ({start.max_length}); set it with --set model.head_tokens=N"
            )
        self.recipe, self.start, self.data_sha256 = recipe, start, data_sha256
        tc = recipe.train
        torch.set_num_threads(tc.threads)
        torch.manual_seed(recipe.seed)
        self.model = start.model
        self.train_rows, self.dev_rows = list(train_rows), list(dev_rows)
        self.train_ids = self._encode(self.train_rows)
        self.dev_ids = self._encode(self.dev_rows)
        self.polarity, self.two_way, self.emotion = _targets(self.train_rows)
        super().__init__(tc, recipe.seed, out, [len(ids) for ids in self.train_ids], data_sha256=data_sha256)
        head = [p for n, p in self.model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
        encoder = [p for n, p in self.model.named_parameters() if n.startswith("encoder.") and p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            [{"params": encoder, "lr": tc.lr}, {"params": head, "lr": tc.head_lr}], weight_decay=tc.weight_decay
        )
        self.teacher_polarity, self.teacher_emotion = self._teacher()

    def _encode(self, rows: Sequence[TrainingExample]) -> list[list[int]]:
        texts = [r.text for r in rows]
        s = self.start
        return encode(s.tokenizer, texts, s.text_prefix, s.max_length, self.recipe.model.head_tokens)

    def _teacher(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The starting version's logits on the training rows (computed once, kept in the run folder)."""
        path = self.out / TEACHER_FILE
        if path.is_file():
            saved = np.load(path)
            if str(saved["data_sha256"]) == self.data_sha256:
                return torch.from_numpy(saved["polarity"]), torch.from_numpy(saved["emotion"])
        polarity, emotion = predict(self.model, self.train_ids, self.recipe.train.eval_batch_size)
        self.out.mkdir(parents=True, exist_ok=True)
        np.savez(path, polarity=polarity, emotion=emotion, data_sha256=np.asarray(self.data_sha256))
        return torch.from_numpy(polarity), torch.from_numpy(emotion)

    # ---- checkpoints --------------------------------------------------------------------------------
    def write_checkpoint(self, folder: Path) -> None:
        save_checkpoint(self.model, folder, self.state)
        (folder / RECIPE_FILE).write_text(json.dumps(self.recipe.to_dict(), indent=2) + "\n", encoding="utf-8")

    def check_resumable(self, folder: Path, state: Mapping[str, Any]) -> None:
        """The seed, data and model settings and the rows must be unchanged."""
        saved = json.loads((folder / RECIPE_FILE).read_text(encoding="utf-8"))
        require_same_sections(folder / RECIPE_FILE, saved, self.recipe.to_dict(), "recipe")
        if state.get("data_sha256") != self.data_sha256:
            raise ModelError(f"{folder / STATE_FILE}: the run trained on other rows; resume it with the same --data")

    # ---- the dev set and one step -------------------------------------------------------------------
    def evaluate_dev(self) -> dict[str, float]:
        """Dev figures; saves ``<out>/best/`` when the score is at least the best so far."""
        started = time.monotonic()
        polarity, emotion = predict(self.model, self.dev_ids, self.recipe.train.eval_batch_size)
        figures = dev_figures(self.dev_rows, polarity, emotion)
        step = self.state["step"]
        best = figures["score"] >= self.state["best_score"]
        if best:
            self.state["best_score"], self.state["best_step"] = figures["score"], step
            self.replace_folder(
                "best", lambda folder: save_checkpoint(self.model, folder, {"step": step, "dev": figures})
            )
        shown = ", ".join(f"{FIGURE_NAMES[k]} {v:.4f}" for k, v in figures.items())
        self.log(
            f"eval step {step}: dev {shown} ({time.monotonic() - started:.0f} s){' *best*' if best else ''}",
            {"step": step, "dev": figures, "best": best},
        )
        return figures

    def train_step(self, indices: Sequence[int]) -> float:
        """``user_loss`` on one batch, then one update (the encoder at ``lr``, the heads at ``head_lr``)."""
        tc = self.recipe.train
        polarity, emotion = forward_by_length(self.model, [self.train_ids[i] for i in indices], tc.batch_size)
        chosen = torch.tensor(list(indices), dtype=torch.long)
        targets = Targets(
            torch.from_numpy(self.polarity[list(indices)]),
            torch.from_numpy(self.two_way[list(indices)]),
            torch.from_numpy(self.emotion[list(indices)]),
            self.teacher_polarity[chosen],
            self.teacher_emotion[chosen],
        )
        loss = user_loss(
            polarity,
            emotion,
            targets,
            tc,
            teacher_three_way=self.start.three_way,
            teacher_emotions=self.start.emotions,
        )
        return self.update(loss, (tc.lr, tc.head_lr))


__all__ = [
    "HEADS_FILE",
    "Start",
    "Targets",
    "UserTrainer",
    "dev_figures",
    "load_start",
    "save_checkpoint",
    "user_loss",
]
