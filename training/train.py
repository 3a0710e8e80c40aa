"""Fine-tune the base encoder into the binary sentiment classifier, driven by one TOML config.

Run: ``python -m training.train --config training/configs/sentiment.toml --out runs/train
[--set train.max_steps=50 ...] [--resume]``

The model is the encoder, mean pooling over the attention mask, dropout and a linear head
(class 0 negative, 1 positive). Texts longer than the window keep their head and their tail.
Batches are cut from length-sorted windows of shuffled texts, so padding stays small. Every
``checkpoint_every`` steps `<out>/last/` holds the weights, optimizer, scheduler, RNG and data
position, and ``--resume`` continues from it exactly; `<out>/best/` holds the weights with the best
ChnSentiCorp dev accuracy, ready for ``python -m training.export``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from nlp.errors import ConfigError, ModelError
from training.calibrate import FloatArray, classification_metrics
from training.config import Config, DataConfig, config_from_dict, load_config
from training.encoder import load_encoder
from training.pool import read_pool_tsv

WEIGHTS_FILE = "model.safetensors"
ENCODER_CONFIG_FILE = "encoder_config.json"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.json"
STATE_FILE = "state.json"
TRAINER_FILE = "trainer.pt"
BUILD_MANIFEST_FILE = "build_manifest.json"
LABELS = ("negative", "positive")


# ---- model -----------------------------------------------------------------------------------


class SentimentClassifier(torch.nn.Module):
    """Encoder → mean pooling over real tokens → dropout → linear head with 2 logits."""

    def __init__(self, encoder: BertModel, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits [batch, 2] for int64 ids and mask of shape [batch, seq]."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits: torch.Tensor = self.head(self.dropout(pooled))
        return logits


def keep_layers(encoder: BertModel, layers: int) -> None:
    """Drop every transformer layer after the first `layers` (in place)."""
    available = len(encoder.encoder.layer)
    if not 1 <= layers <= available:
        raise ModelError(f"model.layers must be between 1 and {available}, got {layers}")
    encoder.encoder.layer = encoder.encoder.layer[:layers]
    encoder.config.num_hidden_layers = layers


def encode(tokenizer: Tokenizer, texts: Sequence[str], prefix: str, max_length: int, head: int) -> list[list[int]]:
    """Token ids with <s> and </s>; a longer text keeps its first `head` and its last ids."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    out: list[list[int]] = []
    for encoding in tokenizer.encode_batch([prefix + text for text in texts]):
        ids = encoding.ids
        if len(ids) > max_length:
            ids = ids[:head] + ids[len(ids) - (max_length - head) :]
        out.append(ids)
    return out


def pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded int64 input_ids and attention_mask."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def epoch_batches(lengths: Sequence[int], batch_size: int, mega_batches: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches (lists of example indices) of one epoch: shuffle, sort each window of
    `mega_batches` batches by length, cut, shuffle the batches. Depends only on (seed, epoch)."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * mega_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, rows: Sequence[Sequence[int]], pad_id: int, batch_size: int) -> FloatArray:
    """Logits [n, 2] (float32), batched by length; restores the model's train/eval mode."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = pad([rows[i] for i in chunk], pad_id)
        out[chunk] = model(ids, mask).float().numpy()
    model.train(was_training)
    return out


def build_model(config: Config, root: Path) -> tuple[SentimentClassifier, Tokenizer]:
    """The classifier on the base encoder (first `model.layers` layers), head freshly seeded."""
    encoder, tokenizer = load_encoder(root / config.data.base_encoder)
    keep_layers(encoder, config.model.layers)
    torch.manual_seed(config.seed)
    model = SentimentClassifier(encoder, config.model.dropout)
    if config.model.freeze_word_embeddings:
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    return model, tokenizer


def load_classifier(folder: Path) -> tuple[SentimentClassifier, Tokenizer, dict[str, Any]]:
    """A saved checkpoint folder (best/ or last/) → (model in eval mode, tokenizer, config dict)."""
    for name in (WEIGHTS_FILE, ENCODER_CONFIG_FILE, TOKENIZER_FILE, CONFIG_FILE):
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name}: missing; is this a training.train checkpoint folder?")
    raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    encoder = BertModel(BertConfig.from_json_file(str(folder / ENCODER_CONFIG_FILE)), add_pooling_layer=False)
    model = SentimentClassifier(encoder, float(raw["model"]["dropout"]))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)), strict=True)
    model.eval()
    return model, Tokenizer.from_file(str(folder / TOKENIZER_FILE)), raw


def _save_weights(model: SentimentClassifier, tokenizer: Tokenizer, config: Config, folder: Path, root: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS_FILE))
    model.encoder.config.to_json_file(str(folder / ENCODER_CONFIG_FILE))
    tokenizer.save(str(folder / TOKENIZER_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    build_manifest = root / config.data.base_encoder / BUILD_MANIFEST_FILE
    if build_manifest.is_file():
        shutil.copyfile(build_manifest, folder / BUILD_MANIFEST_FILE)


def _replace_dir(tmp: Path, final: Path) -> None:
    # A kill during a save must never leave a half-written checkpoint as the only one.
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_teacher_logits(root: Path, data: DataConfig, rows: int) -> torch.Tensor | None:
    """The teacher's logits for the training rows, or None without a teacher."""
    if not data.teacher_logits:
        return None
    path = root / data.teacher_logits
    if not path.is_file():
        raise ConfigError(f"{path}: teacher logits not found; write them with python -m training.teacher")
    logits = np.load(path)
    if logits.shape != (rows, len(LABELS)):
        raise ConfigError(f"{path}: shape {logits.shape}, expected ({rows}, {len(LABELS)}) for {data.train}")
    return torch.from_numpy(logits.astype(np.float32))


class DistillationLoss:
    """Cross-entropy on the labels, mixed with the softened teacher's distribution when given."""

    def __init__(self, weight: float, temperature: float) -> None:
        self.weight, self.temperature = weight, temperature

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None) -> torch.Tensor:
        """Mean loss of a batch."""
        hard = torch.nn.functional.cross_entropy(logits, labels)
        if teacher is None or self.weight == 0:
            return hard
        t = self.temperature
        soft = torch.nn.functional.kl_div(
            torch.log_softmax(logits / t, dim=-1),
            torch.log_softmax(teacher / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        # T² keeps the soft term's gradients on the scale of the hard term's (Hinton et al. 2015).
        return (1 - self.weight) * hard + self.weight * t * t * soft


class BudgetSchedule:
    """Linear warm-up over `warmup` steps, then linear decay reaching 0 at `total` steps or, when a
    wall-time budget is set, at the end of the budget if that comes first.

    A CPU shared with other work runs at an unpredictable speed; decaying by whichever of steps or
    time runs out first means a run stopped by its budget still ends annealed (Li et al. 2020,
    "Budgeted training"). Without a budget the schedule depends on the step alone.
    """

    def __init__(self, warmup: int, total: int, budget_seconds: float) -> None:
        self.warmup, self.total, self.budget_seconds = warmup, total, budget_seconds

    def factor(self, step: int, elapsed: float) -> float:
        """Multiplier of the peak learning rate for the update after `step` steps and `elapsed` s."""
        if step < self.warmup:
            return (step + 1) / max(1, self.warmup)
        progress = step / self.total
        if self.budget_seconds > 0:
            progress = max(progress, elapsed / self.budget_seconds)
        start = self.warmup / self.total
        return min(1.0, max(0.0, (1.0 - progress) / max(1e-9, 1.0 - start)))

    def state_dict(self) -> dict[str, float]:
        """Its parameters, saved with the checkpoint."""
        return {"warmup": self.warmup, "total": self.total, "budget_seconds": self.budget_seconds}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore the warm-up length (the total and budget come from the current config)."""
        self.warmup = int(state["warmup"])


class Trainer:
    """One training run in `out`: build or resume, loop, checkpoint, evaluate, keep the best."""

    def __init__(self, config: Config, out: Path, root: Path) -> None:
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
        _save_weights(self.model, self.tokenizer, self.config, tmp, self.root)
        trainer_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        }
        torch.save(trainer_state, tmp / TRAINER_FILE)
        (tmp / STATE_FILE).write_text(json.dumps(self.state, indent=2) + "\n", encoding="utf-8")
        _replace_dir(tmp, self.out / "last")

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
            _save_weights(self.model, self.tokenizer, self.config, tmp, self.root)
            record = {"step": step, "epoch": step / self.per_epoch, "chnsenticorp_dev": metrics}
            (tmp / METRICS_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            _replace_dir(tmp, self.out / "best")
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
    parser.add_argument("--config", type=Path, default=Path("training/configs/sentiment.toml"))
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
