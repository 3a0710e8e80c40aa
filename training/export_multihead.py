"""Export a multi-head checkpoint (training.multitask) to the model folder the runtime loads.

Run: ``python -m training.export_multihead --checkpoint runs/multitask/best --out models/default``

The steps of ``training.export``, for two outputs: ONNX fp32 with ``logits`` (negative / neutral /
positive) and ``emotion_logits`` (nlp.schema.EMOTIONS), checked against torch; fused; int8 with the
most sensitive MatMuls kept fp32 until the loss is within the limit; the start model's character
n-gram model mixed into the negative-vs-positive split (``mix_three_way``, weight fitted on
ChnSentiCorp dev); temperatures fitted for polarity (JDDC dev with ChnSentiCorp dev) and emotion
(EWECT usual dev). Every figure is measured on texts never trained on: the binary review sets of
the pool, the JDDC dev dialogues (customer turns, three-way) and the EWECT usual dev posts (emotions).

``fp32_graph``, ``quantise`` (on the sets ``judged`` able to measure the limit) and ``figures`` are
also the export of a version ``kesheng train`` fine-tunes on your labels (training.retrain_multihead).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score
from tokenizers import Tokenizer

from models.evaluate import read_labelled
from nlp.errors import ModelError
from nlp.files import sha256_file
from nlp.schema import EMOTIONS, LABELS
from nlp.sentiment.ngram import PARAMS_FILE as NGRAM_PARAMS_FILE
from nlp.sentiment.ngram import WEIGHTS_FILE as NGRAM_WEIGHTS_FILE
from nlp.sentiment.ngram import NgramModel, mix_three_way
from training.calibrate import FloatArray, fit_temperature_classes
from training.classifier import encode
from training.datasets import load_tasks
from training.model_card_multihead import render_multihead_card
from training.multitask import MultiHeadClassifier, MultitaskConfig, load_multihead, predict
from training.ngram import fit_ngram_weight
from training.onnx_graph import FP32_CANDIDATES, export_onnx, fp32_nodes, fuse, quantize, session

OUTPUTS = ("logits", "emotion_logits")
VERSION = "e5s-zh-3"
BINARY_SETS = {
    "chnsenticorp_test": "eval_chnsenticorp_test.tsv",
    "waimai_heldout": "eval_waimai.tsv",
    "online_shopping_heldout": "eval_online_shopping.tsv",
    "chnsenticorp_dev": "eval_chnsenticorp_dev.tsv",
}
LIMIT_POINTS = 0.5  # the largest accuracy / macro-F1 loss int8 may cost on a judged set
MAX_FOLDER_BYTES = 60 * 1024 * 1024
BATCH = 64


@dataclass(frozen=True)
class Set:
    name: str
    kind: str  # "binary" (labels 0/1), "three_way" (0/1/2), "emotion" (0..5)
    texts: list[str]
    ids: list[list[int]]
    labels: list[int]


def onnx_outputs(sess: ort.InferenceSession, rows: Sequence[Sequence[int]]) -> tuple[FloatArray, FloatArray]:
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    polarity = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
    emotion = np.zeros((len(rows), len(EMOTIONS)), dtype=np.float32)
    for start in range(0, len(order), BATCH):
        chunk = order[start : start + BATCH]
        width = max(len(rows[i]) for i in chunk)
        ids = np.full((len(chunk), width), 1, dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for row, index in enumerate(chunk):
            ids[row, : len(rows[index])] = rows[index]
            mask[row, : len(rows[index])] = 1
        p, e = sess.run(list(OUTPUTS), {"input_ids": ids, "attention_mask": mask})
        polarity[chunk], emotion[chunk] = p, e
    return polarity, emotion


def multiclass(predicted: Sequence[int], truth: Sequence[int], names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1 and the confusion matrix (rows true)."""
    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return {
        "n": len(truth),
        "accuracy": round(float(np.mean(np.asarray(predicted) == np.asarray(truth))), 5),
        "macro_f1": round(float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 5),
        "per_class": {
            name: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4), "n": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        "confusion": {"classes": list(names), "matrix": confusion_matrix(truth, predicted, labels=labels).tolist()},
    }


def binary(polarity: FloatArray, truth: Sequence[int]) -> dict[str, Any]:
    """Negative vs positive (the neutral logit ignored): accuracy, macro-F1, ROC-AUC (None for a
    set with one class, such as a small dev share can be)."""
    margin = polarity[:, 2] - polarity[:, 0]
    predicted = (margin > 0).astype(int)
    both = len(set(truth)) == 2
    return {
        "n": len(truth),
        "accuracy": round(float(np.mean(predicted == np.asarray(truth))), 5),
        "macro_f1": round(float(f1_score(truth, predicted, labels=[0, 1], average="macro", zero_division=0)), 5),
        "roc_auc": round(float(roc_auc_score(truth, margin)), 5) if both else None,
        "neutral_share": round(float(np.mean(polarity.argmax(1) == 1)), 4),
    }


def figures(s: Set, polarity: FloatArray, emotion: FloatArray) -> dict[str, Any]:
    if s.kind == "binary":
        return binary(polarity, s.labels)
    if s.kind == "three_way":
        out = multiclass(polarity.argmax(1).tolist(), s.labels, LABELS)
        opinion = [i for i, y in enumerate(s.labels) if y != 1]
        if opinion:
            out["binary_on_opinions"] = binary(polarity[opinion], [int(s.labels[i] == 2) for i in opinion])
        return out
    return multiclass(emotion.argmax(1).tolist(), s.labels, EMOTIONS)


def score_of(s: Set, polarity: FloatArray, emotion: FloatArray) -> float:
    """The figure int8 is judged on: accuracy (binary) or macro-F1."""
    f = figures(s, polarity, emotion)
    return float(f["accuracy"] if s.kind == "binary" else f["macro_f1"])


def read_sets(config: MultitaskConfig, tokenizer: Tokenizer, shared: Path, pool: Path, sample: int = 0) -> list[Set]:
    """The evaluation sets, encoded as in training; `sample` > 0 keeps only that many rows of each
    (a quick trial of the export, never a shipped model)."""

    def ids(texts: Sequence[str]) -> list[list[int]]:
        return encode(tokenizer, texts, config.text_prefix, config.max_length, config.head_tokens)

    sets = []
    for name, file in BINARY_SETS.items():
        labelled = read_labelled(pool / file)
        sets.append(Set(name, "binary", list(labelled.texts), ids(labelled.texts), list(labelled.labels)))
    tasks = load_tasks(
        shared, seed=config.split_seed, jddc_dev_share=config.jddc_dev_share, usual_dev_share=config.usual_dev_share
    )
    jddc, emotion = tasks.jddc_dev, tasks.emotion_dev
    sets.append(Set("jddc_dev", "three_way", list(jddc.texts), ids(jddc.texts), list(jddc.labels)))
    sets.append(Set("ewect_usual_dev", "emotion", list(emotion.texts), ids(emotion.texts), list(emotion.labels)))
    if sample:
        steps = [max(1, len(s.texts) // sample) for s in sets]
        sets = [Set(s.name, s.kind, s.texts[::k], s.ids[::k], s.labels[::k]) for s, k in zip(sets, steps, strict=True)]
    return sets


def fp32_graph(model: MultiHeadClassifier, work: Path, threads: int, probe: Sequence[Sequence[int]]) -> Path:
    """The fused fp32 ONNX graph of `model` in `work`, checked against torch on the `probe` rows."""
    work.mkdir(parents=True, exist_ok=True)
    raw = work / "model-fp32.onnx"
    export_onnx(model, raw, 17, OUTPUTS)
    fp32_path = work / "model-fp32-fused.onnx"
    fuse(raw, fp32_path, model.encoder.config.num_attention_heads, model.encoder.config.hidden_size)
    torch_p, torch_e = predict(model, probe)
    onnx_p, onnx_e = onnx_outputs(session(fp32_path, threads), probe)
    gap = float(max(np.abs(torch_p - onnx_p).max(), np.abs(torch_e - onnx_e).max()))
    if gap > 1e-3:
        raise ModelError(f"{fp32_path}: ONNX outputs differ from torch by {gap:.2e}")
    print(f"fp32 ONNX matches torch (max |Δ| {gap:.1e})", flush=True)
    return fp32_path


Outputs = dict[str, tuple[FloatArray, FloatArray]]


def judged(sets: Sequence[Set], limit: float) -> list[Set]:
    """The sets that can measure a loss of `limit` points (one flipped label costs no more than
    that, as training.onnx_graph.judged_sets); every set when none is that large."""
    large = [s for s in sets if 100.0 / max(1, len(s.labels)) <= limit]
    return large or list(sets)


def quantise(
    fp32_path: Path,
    int8_path: Path,
    sets: Sequence[Set],
    fp32: Outputs,
    threads: int,
    limit: float = LIMIT_POINTS,
    scored: Sequence[Set] | None = None,
) -> tuple[str, Outputs, list[dict[str, Any]]]:
    """int8 with the FP32_CANDIDATES tried in order until the worst loss on the `scored` sets (None:
    all) is within `limit` points, else the one that lost least ships: (candidate shipped, int8
    outputs of every set, attempts)."""
    attempts: list[dict[str, Any]] = []
    scored = list(sets) if scored is None else scored
    for kind in FP32_CANDIDATES:
        quantize(fp32_path, int8_path, fp32_nodes(fp32_path, kind))
        int8_sess = session(int8_path, threads)
        int8 = {s.name: onnx_outputs(int8_sess, s.ids) for s in sets}
        losses = {s.name: round(100 * (score_of(s, *fp32[s.name]) - score_of(s, *int8[s.name])), 3) for s in scored}
        attempts.append({"fp32_nodes": kind, "worst_loss_points": max(losses.values()), "loss_points": losses})
        print(f"int8 with {kind} in fp32: worst loss {max(losses.values()):.2f} pt", flush=True)
        if max(losses.values()) <= limit:
            return kind, int8, attempts
    kind = min(attempts, key=lambda a: float(a["worst_loss_points"]))["fp32_nodes"]
    quantize(fp32_path, int8_path, fp32_nodes(fp32_path, kind))
    int8_sess = session(int8_path, threads)
    return kind, {s.name: onnx_outputs(int8_sess, s.ids) for s in sets}, attempts


def export(
    checkpoint: Path, out: Path, work: Path, shared: Path, pool: Path, threads: int, sample: int = 0
) -> dict[str, Any]:
    """Export a training.multitask checkpoint (its run's summary.json beside it) into `out`."""
    started = time.monotonic()
    summary = json.loads((checkpoint.parent / "summary.json").read_text(encoding="utf-8"))
    config = MultitaskConfig(**summary["config"])
    start = Path(config.start)
    start_manifest = json.loads((start / "manifest.json").read_text(encoding="utf-8"))
    model: MultiHeadClassifier = load_multihead(checkpoint)
    tokenizer = Tokenizer.from_file(str(start / "tokenizer.json"))
    sets = read_sets(config, tokenizer, shared, pool, sample)

    fp32_path = fp32_graph(model, work, threads, sorted(sets[0].ids, key=len)[::40])
    fp32_sess = session(fp32_path, threads)
    fp32 = {s.name: onnx_outputs(fp32_sess, s.ids) for s in sets}
    int8_path = work / "model-int8.onnx"
    shipped_kind, int8, attempts = quantise(fp32_path, int8_path, sets, fp32, threads)

    by_name = {s.name: s for s in sets}
    ngram = NgramModel.load(start)
    margins = {s.name: ngram.margins(s.texts).astype(np.float32) for s in sets}
    dev = "chnsenticorp_dev"
    weight = fit_ngram_weight(int8[dev][0][:, [0, 2]], margins[dev], by_name[dev].labels)
    mixed = {name: mix_three_way(p, margins[name], weight) for name, (p, _e) in int8.items()}
    print(f"n-gram model mixed in with weight {weight:.2f}", flush=True)

    calibration_logits = np.concatenate([mixed["jddc_dev"], mixed[dev]])
    calibration_labels = by_name["jddc_dev"].labels + [2 * y for y in by_name[dev].labels]
    temperature = fit_temperature_classes(calibration_logits, calibration_labels)
    emotion_temperature = fit_temperature_classes(int8["ewect_usual_dev"][1], by_name["ewect_usual_dev"].labels)

    metrics: dict[str, Any] = {}
    for s in sets:
        metrics[s.name] = {
            "kind": s.kind,
            "shipped": figures(s, mixed[s.name], int8[s.name][1]),
            "transformer_int8": figures(s, *int8[s.name]),
            "transformer_fp32": figures(s, *fp32[s.name]),
        }
    metrics["quantisation"] = {"limit_points": LIMIT_POINTS, "attempts": attempts, "shipped": shipped_kind}

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file() and stale.name != "__init__.py":
            stale.unlink()
    shutil.copyfile(int8_path, out / "model.onnx")
    for name in (NGRAM_WEIGHTS_FILE, NGRAM_PARAMS_FILE, "tokenizer.json"):
        shutil.copyfile(start / name, out / name)
    shared_files = {
        "jddc": shared / "transcripts" / "jddc_satisfaction_valid.txt",
        "ewect_usual_eval": shared / "emotion" / "ewect_usual_eval.tsv",
        **{f"ewect_virus_{p}": shared / "emotion" / f"ewect_virus_{p}.tsv" for p in ("train", "eval", "test")},
    }
    manifest = {
        "name": start_manifest["name"],
        "version": VERSION,
        "format": "onnx",
        "labels": list(LABELS),
        "emotions": list(EMOTIONS),
        "text_prefix": config.text_prefix,
        "max_length": config.max_length,
        "window_stride": start_manifest["window_stride"],
        "temperature": round(temperature, 5),
        "emotion_temperature": round(emotion_temperature, 5),
        "ngram_weight": weight,
        "parent_version": start_manifest["version"],
        "base_model": start_manifest["base_model"],
        "data": {
            **start_manifest["data"],
            **{name: {"sha256": sha256_file(path)} for name, path in shared_files.items()},
            f"{pool}/train.tsv (reviews sampled)": {"sha256": sha256_file(pool / "train.tsv"), "count": config.reviews},
        },
        "config": {"multitask": summary["config"], "parent": start_manifest["config"]},
        "metrics": metrics,
        "libraries": {name: version(name) for name in ("torch", "transformers", "onnxruntime", "tokenizers", "onnx")},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {
            "best": summary["best"],
            "steps_run": summary["steps"],
            "history": summary["history"],
            "export_seconds": round(time.monotonic() - started, 1),
        },
        "sizes": {"model.onnx": (out / "model.onnx").stat().st_size, "fp32_onnx": fp32_path.stat().st_size},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(render_multihead_card(manifest), encoding="utf-8")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    if total > MAX_FOLDER_BYTES:
        raise ModelError(f"{out}: {total / 2**20:.1f} MB exceeds the {MAX_FOLDER_BYTES / 2**20:.0f} MB limit")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export a multi-head checkpoint to the ONNX model folder.")
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/multitask/best"))
    parser.add_argument("--out", type=Path, default=Path("runs/multitask/model"))
    parser.add_argument("--work", type=Path, default=Path("runs/export-multihead"))
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pool", type=Path, default=Path("runs/pool"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", type=int, default=0, help="rows per evaluation set (a quick trial)")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(args.threads)
    manifest = export(args.checkpoint, args.out, args.work, args.shared, args.pool, args.threads, args.sample)
    print(json.dumps({k: manifest[k] for k in ("temperature", "emotion_temperature", "ngram_weight")}))
    for name, entry in manifest["metrics"].items():
        if name != "quantisation":
            shipped = entry["shipped"]
            print(name, {k: shipped[k] for k in ("accuracy", "macro_f1", "roc_auc") if k in shipped})


if __name__ == "__main__":
    main()
