"""Fine-tune the base encoder into the binary sentiment classifier, driven by one TOML config.

Run: ``python -m training.train --config RECIPE.toml --out runs/train [--set train.max_steps=50 ...]
[--resume]`` (the recipe's data.train must name a file; ``kesheng train --data`` is the way for
your own labelled data).

The model and its checkpoint folder are in ``training.classifier``, the loop (batches, learning-rate
schedule, checkpoints, resume) in ``training.loop``, the distillation loss in ``training.distill``;
this module is what the binary path trains and how it is scored. Every ``checkpoint_every`` steps
`<out>/last/` holds the weights, optimizer, scheduler, RNG and data position, and ``--resume``
continues from it exactly; `<out>/best/` holds the weights with the best dev accuracy, ready for
``python -m training.export``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nlp.errors import ConfigError
from training.calibrate import classification_metrics
from training.classifier import (
    CONFIG_FILE,
    METRICS_FILE,
    STATE_FILE,
    SentimentClassifier,
    build_model,
    encode,
    pad,
    predict_logits,
    save_weights,
)
from training.config import Config, config_from_dict, load_config
from training.distill import DistillationLoss, load_teacher_logits
from training.loop import FineTuneLoop, require_same_sections
from training.pool import read_pool_tsv


class Trainer(FineTuneLoop):
    """One training run in `out` (training.loop): build or resume, loop, checkpoint, evaluate, keep
    the best dev accuracy."""

    best_key, best_name = "best_dev_accuracy", "accuracy"
    shows_lr = True
    model: SentimentClassifier

    def __init__(self, config: Config, out: Path, root: Path) -> None:
        for key in ("train", "dev", "base_encoder"):
            if not getattr(config.data, key):
                # The packaged recipe leaves them to `kesheng train`, which fills them in (training.recipe).
                raise ConfigError(
                    f"data.{key} names no file: set it (--set data.{key}=PATH), or train with "
                    "kesheng train --data FILE, which holds out a dev set and finds the base encoder itself"
                )
        self.config, self.root = config, root
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
        self.teacher = load_teacher_logits(root, config.data, len(train))
        self.loss_fn = DistillationLoss(tc.distill_weight if self.teacher is not None else 0.0, tc.distill_temperature)
        super().__init__(tc, config.seed, out, [len(ids) for ids in self.train_ids])
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for _name, param in self.model.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim == 1 else decay).append(param)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=tc.lr,
        )

    def train_step(self, indices: Sequence[int]) -> float:
        """Distillation loss (cross-entropy alone without a teacher) on one batch, then one update."""
        ids, mask = pad([self.train_ids[i] for i in indices], self.pad_id)
        labels = torch.tensor([self.train_labels[i] for i in indices], dtype=torch.long)
        teacher = None if self.teacher is None else self.teacher[list(indices)]
        lr = self.config.train.lr
        return self.update(self.loss_fn(self.model(ids, mask), labels, teacher), (lr, lr))

    def write_checkpoint(self, folder: Path) -> None:
        save_weights(self.model, self.tokenizer, self.config, folder, self.root)
        (folder / STATE_FILE).write_text(json.dumps(self.state, indent=2) + "\n", encoding="utf-8")

    def check_resumable(self, folder: Path, state: Mapping[str, Any]) -> None:
        """The seed, data and model settings must be unchanged."""
        # Parsed, so keys added since the checkpoint was written compare at their defaults.
        saved = config_from_dict(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))).to_dict()
        require_same_sections(folder / CONFIG_FILE, saved, self.config.to_dict(), "config")

    def evaluate_dev(self) -> dict[str, Any]:
        """Dev metrics; saves `<out>/best/` when the accuracy is the best so far."""
        started = time.monotonic()
        logits = predict_logits(self.model, self.dev_ids, self.pad_id, self.config.train.eval_batch_size)
        metrics = classification_metrics(logits, self.dev_labels)
        step = self.state["step"]
        best = metrics["accuracy"] > self.state["best_dev_accuracy"]
        if best:
            self.state["best_dev_accuracy"], self.state["best_step"] = metrics["accuracy"], step
            record = {"step": step, "epoch": step / self.per_epoch, "chnsenticorp_dev": metrics}

            def write(folder: Path) -> None:
                save_weights(self.model, self.tokenizer, self.config, folder, self.root)
                (folder / METRICS_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

            self.replace_folder("best", write)
        self.log(
            f"eval step {step}: dev accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f} "
            f"AUC {metrics['roc_auc']:.4f} ({time.monotonic() - started:.0f} s){' *best*' if best else ''}",
            {"step": step, "dev": metrics, "best": best},
        )
        return metrics

    def run(self, stop_at_step: int | None = None) -> None:
        """The loop (training.loop), the recipe first recorded as `<out>/config.json`."""
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")
        super().run(stop_at_step)


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
