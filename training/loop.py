"""The fine-tuning loop both training paths run: training.train's Trainer (the binary classifier on
the base encoder) and training.multitask_user's UserTrainer (the three-way + emotion heads on your rows).

``FineTuneLoop`` is what they share: the step budget (``max_steps``, else epochs × batches per epoch),
the batches of ``training.schedule.epoch_batches`` (they depend only on the seed and the epoch), the
learning rate of ``BudgetSchedule`` (warm-up, linear decay to the last step or the wall-time budget),
progress lines and ``<out>/history.jsonl``, a dev evaluation every ``eval_every`` steps and at the end,
and ``<out>/last/`` every ``checkpoint_every`` steps (weights, optimiser, scheduler, RNG, data
position), which ``resume`` continues from exactly. A subclass builds the model and the optimiser and
says what one step computes (``train_step``), how the dev set is scored and the best weights kept
(``evaluate_dev``), what else ``last/`` holds (``write_checkpoint``) and what a resumed run must share
with the one that wrote it (``check_resumable``).
"""

from __future__ import annotations

import json
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file

from nlp.errors import ModelError
from training.classifier import STATE_FILE, TRAINER_FILE, WEIGHTS_FILE
from training.config import LoopSettings
from training.schedule import BudgetSchedule, epoch_batches

# The recipe sections a resumed run must share with the run that wrote its checkpoint.
RESUME_SECTIONS = ("seed", "data", "model")


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the folder `tmp` to `final`, replacing it: a kill during a save must never leave a
    half-written checkpoint as the only one."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def require_same_sections(path: Path, saved: Mapping[str, Any], current: Mapping[str, Any], noun: str) -> None:
    """ModelError naming `path` when the recipe recorded there differs from the current one in a
    section a resumed run must keep."""
    for section in RESUME_SECTIONS:
        if saved.get(section) != current[section]:
            raise ModelError(f"{path}: [{section}] differs from the current {noun}")


class FineTuneLoop(ABC):
    """One training run in `out`: loop, checkpoint, evaluate, resume (see the module docstring).

    The subclass sets `model` and `optimizer` and calls ``__init__`` with the loop's settings, the
    seed, the run folder, the training texts' token lengths and what else its state records."""

    # The state key and the name of the dev figure the best checkpoint is chosen by.
    best_key: ClassVar[str]
    best_name: ClassVar[str]
    # Whether the dev set is scored before the first step (a run that takes no step is then not
    # scored again at its end).
    evaluates_start: ClassVar[bool] = False
    # Whether progress lines show the learning rate (of the first parameter group).
    shows_lr: ClassVar[bool] = False

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def __init__(self, settings: LoopSettings, seed: int, out: Path, lengths: Sequence[int], **state: Any) -> None:
        self.settings, self.seed, self.out, self.lengths = settings, seed, out, list(lengths)
        self.per_epoch = len(epoch_batches(self.lengths, settings.batch_size, settings.mega_batches, seed, 0))
        self.total = settings.max_steps or settings.epochs * self.per_epoch
        warmup = round(settings.warmup_fraction * self.total)
        self.scheduler = BudgetSchedule(warmup, self.total, 60 * settings.stop_after_minutes)
        self.state: dict[str, Any] = {
            "step": 0,
            "epoch": 0,
            "batch_in_epoch": 0,
            self.best_key: -1.0,
            "best_step": 0,
            "wall_seconds": 0.0,
            "total_steps": self.total,
            "steps_per_epoch": self.per_epoch,
            **state,
        }

    # ---- what a subclass says ------------------------------------------------------------------
    @abstractmethod
    def train_step(self, indices: Sequence[int]) -> float:
        """Forward the training texts at `indices`, then ``update``; returns the loss."""

    @abstractmethod
    def evaluate_dev(self) -> dict[str, Any]:
        """Score the dev set, keep ``<out>/best/`` when the figure is the best so far, log it."""

    @abstractmethod
    def write_checkpoint(self, folder: Path) -> None:
        """The weights, ``STATE_FILE`` (the state) and the recipe into `folder`, for ``last/``."""

    @abstractmethod
    def check_resumable(self, folder: Path, state: Mapping[str, Any]) -> None:
        """ModelError when ``last/`` (`folder`, its `state`) was written by a run this one cannot continue."""

    # ---- steps and checkpoints -----------------------------------------------------------------
    def update(self, loss: torch.Tensor, peaks: Sequence[float]) -> float:
        """Back-propagate `loss` and take one optimiser step, each parameter group at its peak
        learning rate in `peaks` × the schedule's factor, gradients clipped; returns the loss."""
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        factor = self.scheduler.factor(self.state["step"], self.state["wall_seconds"])
        for group, peak in zip(self.optimizer.param_groups, peaks, strict=True):
            group["lr"] = peak * factor
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.item())

    def replace_folder(self, name: str, write: Callable[[Path], None]) -> None:
        """``<out>/<name>/`` written by `write` into a fresh ``<name>.tmp`` and renamed into place."""
        tmp = self.out / f"{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        replace_dir(tmp, self.out / name)

    def save_last(self) -> None:
        """Write ``<out>/last/`` atomically: weights, optimiser, scheduler, RNG, data position."""

        def write(folder: Path) -> None:
            self.write_checkpoint(folder)
            trainer = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": torch.get_rng_state(),
            }
            torch.save(trainer, folder / TRAINER_FILE)

        self.replace_folder("last", write)

    def resume(self) -> None:
        """Continue from ``<out>/last/`` (what ``check_resumable`` checks must be unchanged)."""
        folder = self.out / "last"
        if not (folder / STATE_FILE).is_file():
            raise ModelError(f"{folder / STATE_FILE}: missing; nothing to resume (run without --resume)")
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        self.check_resumable(folder, state)
        self.model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)), strict=True)
        trainer = torch.load(folder / TRAINER_FILE, weights_only=True)
        self.optimizer.load_state_dict(trainer["optimizer"])
        self.scheduler.load_state_dict(trainer["scheduler"])
        torch.set_rng_state(trainer["rng"])
        self.state.update(state)
        self.state["total_steps"] = self.total
        self.log(f"resumed at step {self.state['step']} (epoch {self.state['epoch']})")

    # ---- reporting -----------------------------------------------------------------------------
    def log(self, line: str, record: dict[str, Any] | None = None) -> None:
        """Print `line`; append `record`, when given, to ``<out>/history.jsonl``."""
        print(line, flush=True)
        if record is not None:
            with (self.out / "history.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def _progress(self, step: int, window: Sequence[tuple[float, float]]) -> None:
        recent = window[-self.settings.log_every :]
        per_step = sum(s for _, s in window) / len(window)
        loss = sum(v for v, _ in recent) / len(recent)
        lr = self.optimizer.param_groups[0]["lr"] if self.shows_lr else None
        shown = "" if lr is None else f"lr {lr:.2e} "
        self.log(
            f"step {step}/{self.total} epoch {step / self.per_epoch:.2f} loss {loss:.4f} "
            f"{per_step:.2f} s/step {shown}ETA {per_step * (self.total - step) / 60:.1f} min",
            {"step": step, "loss": loss, "s_per_step": per_step, **({} if lr is None else {"lr": lr})},
        )

    # ---- the loop ------------------------------------------------------------------------------
    def run(self, stop_at_step: int | None = None) -> None:
        """Train to `total_steps` (or the wall-time budget, or `stop_at_step` as if interrupted there;
        the schedule still spans `total_steps`), checkpointing and evaluating on the way."""
        tc = self.settings
        self.out.mkdir(parents=True, exist_ok=True)
        self.log(
            f"training {len(self.lengths)} texts, {self.per_epoch} batches/epoch, {self.total} steps, "
            f"{sum(p.numel() for p in self.model.parameters() if p.requires_grad)} trainable parameters"
        )
        if self.evaluates_start and self.state["step"] == 0 and self.state[self.best_key] < 0:
            self.evaluate_dev()
        last_eval = self.state["step"] if self.evaluates_start else -1
        self.model.train()
        started, wall_before = time.monotonic(), float(self.state["wall_seconds"])
        window: list[tuple[float, float]] = []  # (loss, seconds) of recent steps
        end = min(self.total, stop_at_step or self.total)
        while self.state["step"] < end:
            batches = epoch_batches(self.lengths, tc.batch_size, tc.mega_batches, self.seed, self.state["epoch"])
            while self.state["batch_in_epoch"] < len(batches) and self.state["step"] < end:
                tick = time.monotonic()
                loss = self.train_step(batches[self.state["batch_in_epoch"]])
                self.state["step"] += 1
                self.state["batch_in_epoch"] += 1
                window = [*window[-(10 * tc.log_every) + 1 :], (loss, time.monotonic() - tick)]
                self.state["wall_seconds"] = wall_before + time.monotonic() - started
                step = self.state["step"]
                if step % tc.log_every == 0 or step == self.total:
                    self._progress(step, window)
                if step % tc.eval_every == 0:
                    self.evaluate_dev()
                    last_eval = step
                if step % tc.checkpoint_every == 0:
                    self.save_last()
                if tc.stop_after_minutes and self.state["wall_seconds"] > 60 * tc.stop_after_minutes:
                    self.log(f"stopping at step {step}: stop_after_minutes={tc.stop_after_minutes} reached")
                    end = step
            if self.state["batch_in_epoch"] >= len(batches):
                self.state["epoch"] += 1
                self.state["batch_in_epoch"] = 0
        if last_eval != self.state["step"]:
            self.evaluate_dev()
        self.save_last()
        self.log(
            f"done: {self.state['step']} steps in {self.state['wall_seconds'] / 60:.1f} min; "
            f"best dev {self.best_name} {self.state[self.best_key]:.4f} at step {self.state['best_step']}"
        )


__all__ = ["RESUME_SECTIONS", "FineTuneLoop", "replace_dir", "require_same_sections"]
