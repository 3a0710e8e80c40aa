"""Fine-tune the base encoder into the binary sentiment classifier, driven by one TOML config.

Run: ``python -m training.train --config RECIPE.toml --out runs/train [--set train.max_steps=50 ...]
[--resume]`` (the recipe's data.train must name a file; ``kesheng train --data`` is the way for
your own labelled data).

The model and its checkpoint folder are in ``training.classifier``, the batches and the learning-rate
schedule in ``training.schedule``, the distillation loss in ``training.distill``; this module is the
loop. Every ``checkpoint_every`` steps `<out>/last/` holds the weights, optimizer, scheduler, RNG and
data position, and ``--resume`` continues from it exactly; `<out>/best/` holds the weights with the
best dev accuracy, ready for ``python -m training.export``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from nlp.errors import ConfigError, ModelError
from training.calibrate import classification_metrics
from training.classifier import (
    CONFIG_FILE,
    METRICS_FILE,
    STATE_FILE,
    TRAINER_FILE,
    WEIGHTS_FILE,
    build_model,
    encode,
    pad,
    predict_logits,
    save_weights,
)
from training.config import Config, config_from_dict, load_config
from training.distill import DistillationLoss, load_teacher_logits
from training.pool import read_pool_tsv
from training.schedule import BudgetSchedule, epoch_batches


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the folder `tmp` to `final`, replacing it: a kill during a save must never leave a
    half-written checkpoint as the only one."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


class Trainer:
    """One training run in `out`: build or resume, loop, checkpoint, evaluate, keep the best."""

    def __init__(self, config: Config, out: Path, root: Path) -> None:
        for key in ("train", "dev", "base_encoder"):
            if not getattr(config.data, key):
                # The packaged recipe leaves them to `kesheng train`, which fills them in (training.recipe).
                raise ConfigError(
                    f"data.{key} names no file: set it (--set data.{key}=PATH), or train with "
                    "kesheng train --data FILE, which holds out a dev set and finds the base encoder itself"
                )
        self.config, self.out, self.root = config, out, root
        tc = config.train
        torch.set_num_threads(tc.threads)
        self.model, self.tokenizer = build_model(config, root)
        pad_id = self.model.encoder.config.pad_token_id
        self.pad_id = int(pad_id if pad_id is not None else 1)
        m = config.model
        train = read_pool_tsv(root / config.data.train)
        dev = read_pool_tsv(root / config.data.dev)
        self.train_ids = encode(self.tokenizer, [t for _, t in train], m.text_prefix, m.max_length, m.head_tokens)
        self.train_labels = [label for label, _ in train]
        self.dev_ids = encode(self.tokenizer, [t for _, t in dev], m.text_prefix, m.max_length, m.head_tokens)
        self.dev_labels = [label for label, _ in dev]
        self.lengths = [len(ids) for ids in self.train_ids]
        self.teacher = load_teacher_logits(root, config.data, len(train))
        self.per_epoch = len(epoch_batches(self.lengths, tc.batch_size, tc.mega_batches, config.seed, 0))
        self.total = tc.max_steps or tc.epochs * self.per_epoch
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for _name, param in self.model.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim == 1 else decay).append(param)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=tc.lr,
        )
        warmup = round(tc.warmup_fraction * self.total)
        self.scheduler = BudgetSchedule(warmup, self.total, 60 * tc.stop_after_minutes)
        self.lr = 0.0
        self.state: dict[str, Any] = {
            "step": 0,
            "epoch": 0,
            "batch_in_epoch": 0,
            "best_dev_accuracy": -1.0,
            "best_step": 0,
            "wall_seconds": 0.0,
            "total_steps": self.total,
            "steps_per_epoch": self.per_epoch,
        }

    # ---- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Write `<out>/last/` atomically: weights, optimizer, scheduler, RNG, data position."""
        tmp = self.out / "last.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        save_weights(self.model, self.tokenizer, self.config, tmp, self.root)
        trainer_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        }
        torch.save(trainer_state, tmp / TRAINER_FILE)
        (tmp / STATE_FILE).write_text(json.dumps(self.state, indent=2) + "\n", encoding="utf-8")
        replace_dir(tmp, self.out / "last")

    def resume(self) -> None:
        """Continue from `<out>/last/`; the model, data and seed settings must be unchanged."""
        folder = self.out / "last"
        if not (folder / STATE_FILE).is_file():
            raise ModelError(f"{folder / STATE_FILE}: missing; nothing to resume (run without --resume)")
        # Parsed, so keys added since the checkpoint was written compare at their defaults.
        saved = config_from_dict(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))).to_dict()
        current = self.config.to_dict()
        for section in ("seed", "data", "model"):
            if saved[section] != current[section]:
                raise ModelError(f"{folder / CONFIG_FILE}: [{section}] differs from the current config")
        self.model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)), strict=True)
        trainer_state = torch.load(folder / TRAINER_FILE, weights_only=True)
        self.optimizer.load_state_dict(trainer_state["optimizer"])
        self.scheduler.load_state_dict(trainer_state["scheduler"])
        torch.set_rng_state(trainer_state["rng"])
        self.state.update(json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))
        self.state["total_steps"] = self.total
        self.log(f"resumed at step {self.state['step']} (epoch {self.state['epoch']})")

    # ---- reporting ---------------------------------------------------------------------------
    def log(self, line: str, record: dict[str, Any] | None = None) -> None:
        print(line, flush=True)
        if record is not None:
            with (self.out / "history.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def evaluate_dev(self) -> dict[str, Any]:
        """Dev metrics; saves `<out>/best/` when the accuracy is the best so far."""
        started = time.monotonic()
        logits = predict_logits(self.model, self.dev_ids, self.pad_id, self.config.train.eval_batch_size)
        metrics = classification_metrics(logits, self.dev_labels)
        step = self.state["step"]
        best = metrics["accuracy"] > self.state["best_dev_accuracy"]
        if best:
            self.state["best_dev_accuracy"], self.state["best_step"] = metrics["accuracy"], step
            tmp = self.out / "best.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            save_weights(self.model, self.tokenizer, self.config, tmp, self.root)
            record = {"step": step, "epoch": step / self.per_epoch, "chnsenticorp_dev": metrics}
            (tmp / METRICS_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            replace_dir(tmp, self.out / "best")
        self.log(
            f"eval step {step}: dev accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f} "
            f"AUC {metrics['roc_auc']:.4f} ({time.monotonic() - started:.0f} s){' *best*' if best else ''}",
            {"step": step, "dev": metrics, "best": best},
        )
        return metrics

    # ---- loop --------------------------------------------------------------------------------
    def run(self, stop_at_step: int | None = None) -> None:
        """Train to `total_steps` (or the wall-time limit, or `stop_at_step` as if interrupted there;
        the schedule still spans `total_steps`), checkpointing and evaluating on the way."""
        tc = self.config.train
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")
        self.model.train()
        loss_fn = DistillationLoss(tc.distill_weight if self.teacher is not None else 0.0, tc.distill_temperature)
        started = time.monotonic()
        wall_before = float(self.state["wall_seconds"])
        window: list[tuple[float, float]] = []  # (loss, seconds) of recent steps
        last_eval = -1
        self.log(
            f"training {len(self.train_ids)} texts, {self.per_epoch} batches/epoch, {self.total} steps, "
            f"{sum(p.numel() for p in self.model.parameters() if p.requires_grad)} trainable parameters"
        )
        end = min(self.total, stop_at_step or self.total)
        while self.state["step"] < end:
            batches = epoch_batches(self.lengths, tc.batch_size, tc.mega_batches, self.config.seed, self.state["epoch"])
            while self.state["batch_in_epoch"] < len(batches) and self.state["step"] < end:
                tick = time.monotonic()
                indices = batches[self.state["batch_in_epoch"]]
                ids, mask = pad([self.train_ids[i] for i in indices], self.pad_id)
                labels = torch.tensor([self.train_labels[i] for i in indices], dtype=torch.long)
                teacher = None if self.teacher is None else self.teacher[indices]
                loss = loss_fn(self.model(ids, mask), labels, teacher)
                loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
                self.lr = tc.lr * self.scheduler.factor(self.state["step"], self.state["wall_seconds"])
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.state["step"] += 1
                self.state["batch_in_epoch"] += 1
                window = [*window[-(10 * tc.log_every) + 1 :], (loss.item(), time.monotonic() - tick)]
                self.state["wall_seconds"] = wall_before + time.monotonic() - started
                step = self.state["step"]
                if step % tc.log_every == 0 or step == self.total:
                    recent = window[-tc.log_every :]
                    per_step = sum(s for _, s in window) / len(window)
                    eta = per_step * (self.total - step)
                    loss_avg = sum(v for v, _ in recent) / len(recent)
                    self.log(
                        f"step {step}/{self.total} epoch {step / self.per_epoch:.2f} loss {loss_avg:.4f} "
                        f"{per_step:.2f} s/step lr {self.lr:.2e} "
                        f"ETA {eta / 60:.1f} min",
                        {
                            "step": step,
                            "loss": loss_avg,
                            "s_per_step": per_step,
                            "lr": self.lr,
                        },
                    )
                if step % tc.eval_every == 0:
                    self.evaluate_dev()
                    last_eval = step
                if step % tc.checkpoint_every == 0:
                    self.save_checkpoint()
                if tc.stop_after_minutes and self.state["wall_seconds"] > 60 * tc.stop_after_minutes:
                    self.log(f"stopping at step {step}: stop_after_minutes={tc.stop_after_minutes} reached")
                    end = step
            if self.state["batch_in_epoch"] >= len(batches):
                self.state["epoch"] += 1
                self.state["batch_in_epoch"] = 0
        if last_eval != self.state["step"]:
            self.evaluate_dev()
        self.save_checkpoint()
        self.log(
            f"done: {self.state['step']} steps in {self.state['wall_seconds'] / 60:.1f} min; "
            f"best dev accuracy {self.state['best_dev_accuracy']:.4f} at step {self.state['best_step']}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: train (or resume) into --out."""
    parser = argparse.ArgumentParser(description="Fine-tune the sentiment classifier.")
    parser.add_argument("--config", type=Path, required=True, help="training recipe (TOML)")
    parser.add_argument("--out", type=Path, default=Path("runs/train"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/last/")
    parser.add_argument("--root", type=Path, default=Path("."), help="paths in the config are relative to this")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    config = load_config(args.config, args.set)
    trainer = Trainer(config, args.out, args.root)
    if args.resume:
        trainer.resume()
    elif (args.out / "last").exists():
        sys.exit(f"{args.out / 'last'} exists: pass --resume to continue it, or choose another --out")
    trainer.run()


if __name__ == "__main__":
    main()
