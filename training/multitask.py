"""Three-way polarity and six emotions on one encoder: the multi-task fine-tuning of issue 13.

The model is a shipped classifier's encoder (weights read back from its ONNX export by
``training.from_onnx``) with two heads on the same mean-pooled vector:

- ``polarity``: negative / neutral / positive. From a binary model, its negative and positive rows
  start as the binary head's, so the binary reading is intact at step 0; the neutral row starts at
  zero. From a three-way + emotion model, both heads start as that model's.
- ``emotion``: angry / sad / fear / surprise / happy / neutral (EWECT's classes).

This module's ``run`` is the development run on the shared data that made the default model; the
same model on your own labelled texts (``kesheng train --data``) is ``training.multitask_user``.

Every batch mixes three sources, so no task is forgotten while another is learnt:

- reviews from the binary pool (negative / positive), with the starting model's own logits as a
  distillation target on the negative-vs-positive part of the polarity head (keeps the binary
  figures where they were);
- JDDC customer turns (three-way, classes weighted inversely to their frequency: half are neutral);
- EWECT posts (six emotions, weighted the same way; their polarity too, surprise excepted).

Checkpoints: ``last/`` every ``checkpoint_every`` steps (weights, optimiser, scheduler, sampler
state), ``best/`` at the best dev score (mean of JDDC three-way macro-F1 and EWECT emotion macro-F1,
among evaluations whose ChnSentiCorp dev accuracy is within ``binary_slack`` of the start). A run
started again with the same folder resumes from ``last/``.

Run: ``python -m training.multitask --out runs/multitask [--start FOLDER] [--shared ../shared/data] [--pool runs/pool]``
(``--start``: a binary model folder; the default model e5s-zh-3 started from e5s-zh-2, which is
``models/default`` at commit 6e2d8db: ``git archive 6e2d8db models/default | tar -x -C runs/e5s-zh-2``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from sklearn.metrics import f1_score
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from training.classifier import encode, pad
from training.datasets import EMOTION_POLARITY, EMOTIONS, POLARITY, Labelled, TaskData, load_tasks
from training.from_onnx import read_export

FloatArray = npt.NDArray[np.float32]
NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2
IGNORE = -100


@dataclass(frozen=True)
class MultitaskConfig:
    seed: int = 20261201
    start: str = "models/default"  # the model folder whose encoder and binary head training starts from
    max_length: int = 160
    head_tokens: int = 48
    text_prefix: str = "query: "
    dropout: float = 0.1
    # Rows per batch from each source (32 in all).
    review_rows: int = 12
    jddc_rows: int = 10
    emotion_rows: int = 10
    micro_batch: int = 8  # rows per forward pass, sorted by length
    reviews: int = 16000  # reviews sampled from the pool (with their starting logits)
    encoder_lr: float = 4e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 150
    max_steps: int = 2400
    stop_after_minutes: float = 62.0
    grad_clip: float = 1.0
    distill_weight: float = 0.5
    distill_temperature: float = 2.0
    emotion_weight: float = 1.0
    checkpoint_every: int = 100
    eval_every: int = 300
    binary_slack: float = 0.01
    split_seed: int = 13
    jddc_dev_share: float = 0.2
    usual_dev_share: float = 0.4
    threads: int = 2


class MultiHeadClassifier(torch.nn.Module):
    """Encoder → mean pooling over real tokens → dropout → polarity (3) and emotion (6) heads."""

    def __init__(self, encoder: BertModel, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.polarity = torch.nn.Linear(hidden, len(POLARITY))
        self.emotion = torch.nn.Linear(hidden, len(EMOTIONS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        return self.polarity(pooled), self.emotion(pooled)


def encoder_config(state: dict[str, FloatArray], attention_heads: int) -> BertConfig:
    """The BertConfig of an encoder state dict read back from an export (sizes from its tensors)."""
    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    return BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=attention_heads,
        intermediate_size=state["encoder.layer.0.intermediate.dense.weight"].shape[0],
        hidden_act="gelu",
        max_position_embeddings=state["embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["embeddings.token_type_embeddings.weight"].shape[0],
        layer_norm_eps=1e-12,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        architectures=["BertModel"],
    )


def start_model(folder: Path, dropout: float) -> MultiHeadClassifier:
    """The multi-head model on the encoder of a shipped model folder (its fused ``model.onnx``): a
    binary model's head becomes the negative and positive rows of the polarity head (neutral and the
    emotion head start at zero); a three-way + emotion model's heads are taken as they are."""
    exported = read_export(folder / "model.onnx")
    encoder = BertModel(encoder_config(exported.state, exported.num_attention_heads), add_pooling_layer=False)
    encoder.load_state_dict({k: torch.from_numpy(v) for k, v in exported.state.items()}, strict=True)
    model = MultiHeadClassifier(encoder, dropout)
    with torch.no_grad():
        if "head" in exported.heads:
            head_weight, head_bias = exported.heads["head"]
            model.polarity.weight.zero_()
            model.polarity.bias.zero_()
            model.polarity.weight[[NEGATIVE, POSITIVE]] = torch.from_numpy(head_weight)
            model.polarity.bias[[NEGATIVE, POSITIVE]] = torch.from_numpy(head_bias)
        else:
            for name in ("polarity", "emotion"):
                weight, bias = exported.heads[name]
                getattr(model, name).weight.copy_(torch.from_numpy(weight))
                getattr(model, name).bias.copy_(torch.from_numpy(bias))
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def from_binary_checkpoint(folder: Path, dropout: float) -> MultiHeadClassifier:
    """The multi-head model on a binary training checkpoint (training.classifier: ``weights/`` of a
    version ``kesheng train`` registered): its head becomes the polarity head's negative and positive
    rows, as in ``start_model``."""
    encoder = BertModel(BertConfig.from_json_file(str(folder / "encoder_config.json")), add_pooling_layer=False)
    model = MultiHeadClassifier(encoder, dropout)
    saved = load_file(str(folder / "model.safetensors"))
    encoder.load_state_dict({k.removeprefix("encoder."): v for k, v in saved.items() if k.startswith("encoder.")})
    with torch.no_grad():
        model.polarity.weight.zero_()
        model.polarity.bias.zero_()
        model.emotion.weight.zero_()
        model.emotion.bias.zero_()
        model.polarity.weight[[NEGATIVE, POSITIVE]] = saved["head.weight"]
        model.polarity.bias[[NEGATIVE, POSITIVE]] = saved["head.bias"]
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


@dataclass
class Source:
    """One training source: token ids, polarity and emotion targets (IGNORE where unknown), teacher logits."""

    rows: list[list[int]]
    polarity: npt.NDArray[np.int64]
    emotion: npt.NDArray[np.int64]
    teacher: FloatArray | None = None


def class_weights(labels: npt.NDArray[np.int64], classes: int) -> torch.Tensor:
    """Inverse-frequency weights over the labelled rows, mean 1 per row."""
    known = labels[labels != IGNORE]
    counts = np.bincount(known, minlength=classes).astype(np.float64)
    weights = np.where(counts > 0, len(known) / (classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def read_reviews(path: Path, n: int, seed: int) -> Labelled:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    rows = [line.split("\t", 1) for line in lines if "\t" in line]
    random.Random(seed).shuffle(rows)
    picked = rows[:n]
    return Labelled(tuple(t for _, t in picked), tuple(POSITIVE if int(y) == 1 else NEGATIVE for y, _ in picked))


@torch.inference_mode()
def predict(
    model: MultiHeadClassifier, rows: Sequence[Sequence[int]], batch_size: int = 64
) -> tuple[FloatArray, FloatArray]:
    was_training = model.training
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    polarity = np.zeros((len(rows), len(POLARITY)), dtype=np.float32)
    emotion = np.zeros((len(rows), len(EMOTIONS)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = pad([rows[i] for i in chunk], 1)
        p, e = model(ids, mask)
        polarity[chunk] = p.numpy()
        emotion[chunk] = e.numpy()
    model.train(was_training)
    return polarity, emotion


def forward_by_length(
    model: MultiHeadClassifier, rows: Sequence[Sequence[int]], size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of rows in their order, run in micro-batches of similar length: a mixed batch padded
    to its longest row would spend most of its time on padding (rows average 41 tokens, the longest 160)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    polarity, emotion = [], []
    for start in range(0, len(order), size):
        ids, mask = pad([rows[i] for i in order[start : start + size]], 1)
        p, e = model(ids, mask)
        polarity.append(p)
        emotion.append(e)
    back = torch.empty(len(rows), dtype=torch.long)
    back[torch.tensor(order)] = torch.arange(len(rows))
    return torch.cat(polarity)[back], torch.cat(emotion)[back]


@dataclass
class DevSets:
    jddc: tuple[list[list[int]], npt.NDArray[np.int64]]
    emotion: tuple[list[list[int]], npt.NDArray[np.int64]]
    binary: tuple[list[list[int]], npt.NDArray[np.int64]]


def evaluate(model: MultiHeadClassifier, dev: DevSets) -> dict[str, float]:
    jp, _ = predict(model, dev.jddc[0])
    _, ee = predict(model, dev.emotion[0])
    bp, _ = predict(model, dev.binary[0])
    binary = (bp[:, POSITIVE] > bp[:, NEGATIVE]).astype(np.int64)
    out = {
        "jddc_macro_f1": float(f1_score(dev.jddc[1], jp.argmax(1), average="macro")),
        "emotion_macro_f1": float(f1_score(dev.emotion[1], ee.argmax(1), average="macro")),
        "binary_accuracy": float(np.mean(binary == dev.binary[1])),
    }
    out["score"] = (out["jddc_macro_f1"] + out["emotion_macro_f1"]) / 2
    return out


def save(model: MultiHeadClassifier, folder: Path, extra: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    model.encoder.config.to_json_file(str(folder / "encoder_config.json"))
    (folder / "state.json").write_text(json.dumps(extra, indent=2) + "\n", encoding="utf-8")


def load_multihead(folder: Path, dropout: float = 0.1) -> MultiHeadClassifier:
    """A multi-head checkpoint folder (model.safetensors, encoder_config.json) in eval mode."""
    encoder = BertModel(BertConfig.from_json_file(str(folder / "encoder_config.json")), add_pooling_layer=False)
    model = MultiHeadClassifier(encoder, dropout)
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    model.eval()
    return model


def run(config: MultitaskConfig, shared: Path, pool: Path, out: Path, log: Any = sys.stdout) -> dict[str, Any]:
    torch.set_num_threads(config.threads)
    random.seed(config.seed)
    np.random.seed(config.seed % 2**32)
    torch.manual_seed(config.seed)
    start_folder = Path(config.start)
    tokenizer = Tokenizer.from_file(str(start_folder / "tokenizer.json"))
    tasks: TaskData = load_tasks(
        shared, seed=config.split_seed, jddc_dev_share=config.jddc_dev_share, usual_dev_share=config.usual_dev_share
    )

    def ids(texts: Sequence[str]) -> list[list[int]]:
        return encode(tokenizer, texts, config.text_prefix, config.max_length, config.head_tokens)

    model = start_model(start_folder, config.dropout)
    reviews = read_reviews(pool / "train.tsv", config.reviews, config.seed)
    review_rows = ids(reviews.texts)
    teacher_file = out / "review_teacher.npy"
    if teacher_file.is_file():
        teacher = np.load(teacher_file)
    else:
        out.mkdir(parents=True, exist_ok=True)
        started = time.time()
        polarity, _ = predict(model, review_rows)
        teacher = polarity[:, [NEGATIVE, POSITIVE]]
        np.save(teacher_file, teacher)
        print(f"teacher logits for {len(review_rows)} reviews in {time.time() - started:.0f} s", file=log, flush=True)
    ignore = np.full(len(reviews), IGNORE, dtype=np.int64)
    sources = {
        "review": Source(review_rows, np.asarray(reviews.labels), ignore, teacher),
        "jddc": Source(
            ids(tasks.jddc_train.texts), np.asarray(tasks.jddc_train.labels), np.full(len(tasks.jddc_train), IGNORE)
        ),
        "emotion": Source(
            ids(tasks.emotion_train.texts),
            np.asarray([EMOTION_POLARITY.get(EMOTIONS[y], IGNORE) for y in tasks.emotion_train.labels], dtype=np.int64),
            np.asarray(tasks.emotion_train.labels, dtype=np.int64),
        ),
    }
    binary_dev = [
        line.split("\t", 1)
        for line in (pool / "eval_chnsenticorp_dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    ]
    dev = DevSets(
        (ids(tasks.jddc_dev.texts), np.asarray(tasks.jddc_dev.labels)),
        (ids(tasks.emotion_dev.texts), np.asarray(tasks.emotion_dev.labels)),
        (ids([t for _, t in binary_dev]), np.asarray([int(y) for y, _ in binary_dev])),
    )
    jddc_weights = class_weights(sources["jddc"].polarity, len(POLARITY))
    emotion_weights = class_weights(sources["emotion"].emotion, len(EMOTIONS))
    emotion_polarity_weights = class_weights(sources["emotion"].polarity, len(POLARITY))

    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    encoder_params = [p for n, p in model.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": config.encoder_lr}, {"params": head_params, "lr": config.head_lr}],
        weight_decay=config.weight_decay,
    )

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        return max(0.0, (config.max_steps - step) / max(1, config.max_steps - config.warmup_steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    step, history, best = 0, [], {"score": -1.0}
    last = out / "last"
    if (last / "trainer.pt").is_file():
        saved = torch.load(last / "trainer.pt", weights_only=False)
        model.load_state_dict(load_file(str(last / "model.safetensors")), strict=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        random.setstate(saved["python_rng"])
        torch.set_rng_state(saved["torch_rng"])
        step, history, best, start_binary = saved["step"], saved["history"], saved["best"], saved["start_binary"]
        print(f"resumed at step {step}", file=log, flush=True)
    else:
        at_start = evaluate(model, dev)
        start_binary = at_start["binary_accuracy"]
        history.append({"step": 0, **at_start})
        print(json.dumps(history[-1]), file=log, flush=True)
    rng = random.Random(config.seed + step)
    model.train()
    started, first_step = time.time(), step
    while step < config.max_steps and (time.time() - started) / 60 < config.stop_after_minutes:
        picks = {
            "review": rng.sample(range(len(sources["review"].rows)), config.review_rows),
            "jddc": rng.sample(range(len(sources["jddc"].rows)), config.jddc_rows),
            "emotion": rng.sample(range(len(sources["emotion"].rows)), config.emotion_rows),
        }
        rows = [sources[s].rows[i] for s, chosen in picks.items() for i in chosen]
        polarity_logits, emotion_logits = forward_by_length(model, rows, config.micro_batch)
        r, j = config.review_rows, config.review_rows + config.jddc_rows
        review_y = torch.from_numpy(sources["review"].polarity[picks["review"]])
        jddc_y = torch.from_numpy(sources["jddc"].polarity[picks["jddc"]])
        emotion_src = sources["emotion"]
        emotion_y = torch.from_numpy(emotion_src.emotion[picks["emotion"]])
        emotion_pol_y = torch.from_numpy(emotion_src.polarity[picks["emotion"]])
        assert sources["review"].teacher is not None
        teacher = torch.from_numpy(sources["review"].teacher[picks["review"]])
        t = config.distill_temperature
        binary_part = polarity_logits[:r][:, [NEGATIVE, POSITIVE]]
        distill = (
            F.kl_div(F.log_softmax(binary_part / t, -1), F.softmax(teacher / t, -1), reduction="batchmean") * t * t
        )
        loss = (
            (1 - config.distill_weight) * F.cross_entropy(polarity_logits[:r], review_y)
            + config.distill_weight * distill
            + F.cross_entropy(polarity_logits[r:j], jddc_y, weight=jddc_weights)
            + config.emotion_weight * F.cross_entropy(emotion_logits[j:], emotion_y, weight=emotion_weights)
        )
        if (emotion_pol_y != IGNORE).any():
            loss = loss + 0.5 * F.cross_entropy(
                polarity_logits[j:], emotion_pol_y, weight=emotion_polarity_weights, ignore_index=IGNORE
            )
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        if step % 20 == 0:
            rate = (time.time() - started) / (step - first_step)
            print(f"step {step} loss {loss.item():.4f} {rate:.2f} s/step", file=log, flush=True)
        if step % config.eval_every == 0 or step == config.max_steps:
            figures = evaluate(model, dev)
            history.append({"step": step, **figures})
            print(json.dumps(history[-1]), file=log, flush=True)
            if figures["binary_accuracy"] >= start_binary - config.binary_slack and figures["score"] > best["score"]:
                best = {"step": step, **figures}
                save(model, out / "best", best)
        if step % config.checkpoint_every == 0:
            save(model, last, {"step": step})
            torch.save(
                {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "python_rng": random.getstate(),
                    "torch_rng": torch.get_rng_state(),
                    "step": step,
                    "history": history,
                    "best": best,
                    "start_binary": start_binary,
                },
                last / "trainer.pt",
            )
    summary = {"config": asdict(config), "steps": step, "best": best, "history": history}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/multitask"))
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pool", type=Path, default=Path("runs/pool"))
    parser.add_argument("--start", help="the binary model folder to start from (default: models/default)")
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--minutes", type=float)
    args = parser.parse_args(argv)
    changes = {
        key: value
        for key, value in (("start", args.start), ("max_steps", args.max_steps), ("stop_after_minutes", args.minutes))
        if value is not None
    }
    config = replace(MultitaskConfig(), **changes)
    run(config, args.shared, args.pool, args.out)


if __name__ == "__main__":
    main()
