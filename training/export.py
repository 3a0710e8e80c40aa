"""Export a training checkpoint to the model folder the runtime loads (models/default, or a version
that retraining registers).

Run: ``python -m training.export --checkpoint runs/train/best --out models/default``

Steps (the graph work is in ``training.onnx_graph``, the manifest in ``training.manifest``): ONNX
fp32 (opset ≥ 17, dynamic batch and sequence axes; inputs ``input_ids`` and ``attention_mask`` int64
[batch, seq], output ``logits`` float32 [batch, 2], class 1 positive), checked against torch; int8
dynamic quantisation (per channel, QInt8 weights), keeping the most sensitive MatMuls in fp32 only
when int8 alone loses more than ``export.max_int8_loss_points`` on an evaluation set; fp32 and int8
scored on every evaluation set; the n-gram model's weight and a temperature fitted on the tuning set
(the evaluation set that is the recipe's dev set); then ``model.onnx``, ``tokenizer.json``,
``manifest.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from models.evaluate import read_labelled
from nlp.errors import ModelError
from nlp.sentiment.ngram import PARAMS_FILE as NGRAM_PARAMS_FILE
from nlp.sentiment.ngram import WEIGHTS_FILE as NGRAM_WEIGHTS_FILE
from nlp.sentiment.ngram import NgramModel, mix_logits
from training.calibrate import FloatArray, classification_metrics, fit_temperature
from training.classifier import TOKENIZER_FILE, SentimentClassifier, encode, load_classifier
from training.config import Config, config_from_dict
from training.manifest import MODEL_VERSION, build_manifest, public_metrics
from training.model_card import render_model_card
from training.ngram import fit_ngram_weight, margin_logits
from training.onnx_graph import (
    FP32_CANDIDATES,
    EvalSet,
    check_against_torch,
    export_onnx,
    fp32_nodes,
    fuse,
    judged_sets,
    quantize,
    score_int8,
    score_sets,
    session,
)

MAX_FOLDER_BYTES = 60 * 1024 * 1024
# The tuning set of recipes whose evaluation sets do not include their dev file by path.
DEV_SET = "chnsenticorp_dev"


@dataclass(frozen=True)
class Quantised:
    """The int8 graph that ships: its logits per set, and how each fp32 candidate fared."""

    path: Path
    logits: dict[str, FloatArray]
    attempts: list[dict[str, Any]]
    fp32_nodes: list[str]
    within_limit: bool


def tuning_set(config: Config) -> str | None:
    """The evaluation set the n-gram weight and the temperature are fitted on: the one that is the
    recipe's dev file (ChnSentiCorp dev for the pool's recipes, the held-out share of your data for
    `kesheng train --data`), else one named chnsenticorp_dev; None when there is none."""
    for name, rel in config.data.evals.items():
        if rel == config.data.dev:
            return name
    return DEV_SET if DEV_SET in config.data.evals else None


def eval_sets(config: Config, tokenizer: Tokenizer, root: Path) -> list[EvalSet]:
    """Every evaluation set of the recipe, read (any labelled CSV/TSV) and encoded as in training."""
    m = config.model
    sets = []
    for name, rel in config.data.evals.items():
        labelled = read_labelled(root / rel)
        texts = list(labelled.texts)
        ids = encode(tokenizer, texts, m.text_prefix, m.max_length, m.head_tokens)
        sets.append(EvalSet(name, root / rel, ids, list(labelled.labels), texts))
    if not sets:
        raise ModelError("the recipe has no evaluation sets (data.evals): nothing to check the ONNX graph on")
    return sets


def quantise(
    fp32_path: Path,
    int8_path: Path,
    sets: Sequence[EvalSet],
    fp32: dict[str, FloatArray],
    pad_id: int,
    limit: float,
    threads: int,
) -> Quantised:
    """Try the fp32 candidates in order until int8 loses at most `limit` points on every set that
    can measure it (onnx_graph.judged_sets)."""
    judged = judged_sets(sets, limit)
    attempts: list[dict[str, Any]] = []
    logits: dict[str, FloatArray] = {}
    excluded: list[str] = []
    for index, kind in enumerate(FP32_CANDIDATES):
        excluded = fp32_nodes(fp32_path, kind)
        quantize(fp32_path, int8_path, excluded)
        last = index == len(FP32_CANDIDATES) - 1
        logits, loss = score_int8(session(int8_path, threads), sets, fp32, pad_id, None if last else limit, judged)
        attempts.append(
            {
                "fp32_nodes": kind,
                "excluded_nodes": len(excluded),
                "bytes": int8_path.stat().st_size,
                "worst_loss_points": round(loss, 3),
                "sets_scored": sorted(logits),
                "sets_judged": sorted(judged),
            }
        )
        print(f"int8 with {kind} in fp32 ({len(excluded)} nodes): worst loss {loss:.2f} pt", flush=True)
        if loss <= limit:
            return Quantised(int8_path, logits, attempts, excluded, True)
    # When no candidate stays within the limit, the last (most fp32) one ships: fp32 alone is
    # ~120 MB, twice the size limit. The manifest records the loss.
    return Quantised(int8_path, logits, attempts, excluded, False)


def mix_in_ngram(
    folder: Path, sets: Sequence[EvalSet], logits: dict[str, FloatArray], tuning: str
) -> tuple[float, dict[str, Any], dict[str, FloatArray]]:
    """The n-gram model's weight fitted on the tuning set, its report, and the mixed logits per set."""
    ngram_model = NgramModel.load(folder)
    margins = {s.name: ngram_model.margins(s.texts).astype(np.float32) for s in sets}
    labels = {s.name: s.labels for s in sets}
    weight = fit_ngram_weight(logits[tuning], margins[tuning], labels[tuning])
    report = {
        "weight": weight,
        **{
            s.name: {
                "transformer": public_metrics(classification_metrics(logits[s.name], s.labels)),
                "ngram": public_metrics(classification_metrics(margin_logits(margins[s.name]), s.labels)),
            }
            for s in sets
        },
    }
    print(f"n-gram model mixed in with weight {weight:.2f}", flush=True)
    return weight, report, {name: mix_logits(values, margins[name], weight) for name, values in logits.items()}


def _graph(model: SentimentClassifier, config: Config, work: Path) -> Path:
    """The fp32 ONNX graph (fused when the recipe says so)."""
    work.mkdir(parents=True, exist_ok=True)
    fp32_path = work / "model-fp32.onnx"
    export_onnx(model, fp32_path, max(17, config.export.opset))
    if not config.export.fuse:
        return fp32_path
    fused_path = work / "model-fp32-fused.onnx"
    fuse(fp32_path, fused_path, model.encoder.config.num_attention_heads, model.encoder.config.hidden_size)
    return fused_path


def export(
    checkpoint: Path,
    out: Path,
    work: Path,
    root: Path,
    threads: int,
    version: str | None = None,
    ngram: str | None = None,
) -> dict[str, Any]:
    """Export `checkpoint` into the model folder `out` as model `version` (default: the config's
    export.version, else MODEL_VERSION), mixing in the n-gram model `ngram` (default: the config's
    data.ngram); returns the manifest."""
    started = time.monotonic()
    model, tokenizer, raw_config = load_classifier(checkpoint)
    config = config_from_dict(raw_config, str(checkpoint))
    if ngram is not None:
        config = replace(config, data=replace(config.data, ngram=ngram))
    pad_id = int(model.encoder.config.pad_token_id or 1)
    sets = eval_sets(config, tokenizer, root)
    fp32_path = _graph(model, config, work)
    fp32_sess = session(fp32_path, threads)
    probe = sorted(sets[0].ids, key=len)[:: max(1, len(sets[0].ids) // 32)]
    torch_gap = check_against_torch(model, fp32_sess, probe, pad_id)
    if torch_gap > 1e-3:
        raise ModelError(f"{fp32_path}: ONNX logits differ from torch by {torch_gap:.2e}")
    print(f"fp32 ONNX matches torch (max |Δlogit| {torch_gap:.1e}); scoring {len(sets)} sets", flush=True)
    fp32_logits = score_sets(fp32_sess, sets, pad_id)
    limit = config.export.max_int8_loss_points
    int8 = quantise(fp32_path, work / "model-int8.onnx", sets, fp32_logits, pad_id, limit, threads)

    logits, tuning = int8.logits, tuning_set(config)
    ngram_weight, ngram_report = 0.0, dict[str, Any]()
    if config.data.ngram and tuning is not None:
        ngram_weight, ngram_report, logits = mix_in_ngram(root / config.data.ngram, sets, logits, tuning)
    labels = {s.name: s.labels for s in sets}
    temperature = fit_temperature(logits[tuning], labels[tuning]) if tuning is not None else 1.0
    comparison: dict[str, Any] = {
        "shipped": "int8",
        "within_limit": int8.within_limit,
        "limit_points": limit,
        "attempts": int8.attempts,
        "fp32_nodes": int8.fp32_nodes,
    }
    metrics: dict[str, Any] = {}
    for s in sets:
        full = classification_metrics(fp32_logits[s.name], s.labels)
        quantised = classification_metrics(int8.logits[s.name], s.labels)
        metrics[s.name] = public_metrics(classification_metrics(logits[s.name], s.labels))
        comparison[s.name] = {
            "fp32": public_metrics(full),
            "int8": public_metrics(quantised),
            "accuracy_delta_points": round(100 * (quantised["accuracy"] - full["accuracy"]), 3),
            "label_flips": int(np.sum(fp32_logits[s.name].argmax(1) != int8.logits[s.name].argmax(1))),
        }
    metrics["fp32_vs_int8"] = comparison
    if ngram_report:
        metrics["ngram_mix"] = ngram_report

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file() and stale.name != "__init__.py":
            stale.unlink()
    shutil.copyfile(int8.path, out / "model.onnx")
    if ngram_weight > 0:
        for name in (NGRAM_WEIGHTS_FILE, NGRAM_PARAMS_FILE):
            shutil.copyfile(root / config.data.ngram / name, out / name)
    base_tokenizer = root / config.data.base_encoder / TOKENIZER_FILE
    shutil.copyfile(base_tokenizer if base_tokenizer.is_file() else checkpoint / TOKENIZER_FILE, out / "tokenizer.json")
    manifest = build_manifest(checkpoint, config.to_dict(), root, temperature, metrics, time.monotonic() - started)
    manifest["version"] = version or config.export.version or MODEL_VERSION
    if tuning is not None:
        manifest["tuning_set"] = tuning
    if ngram_weight > 0:
        manifest["ngram_weight"] = ngram_weight
    manifest["sizes"] = {
        "model.onnx": (out / "model.onnx").stat().st_size,
        "fp32_onnx": fp32_path.stat().st_size,
        "int8_onnx": int8.path.stat().st_size,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(render_model_card(manifest), encoding="utf-8")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    if total > MAX_FOLDER_BYTES:
        raise ModelError(f"{out}: {total / 2**20:.1f} MB exceeds the {MAX_FOLDER_BYTES / 2**20:.0f} MB limit")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: export --checkpoint into --out."""
    parser = argparse.ArgumentParser(description="Export a checkpoint to the ONNX model folder.")
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/train/best"))
    parser.add_argument("--out", type=Path, default=Path("models/default"))
    parser.add_argument("--work", type=Path, default=Path("runs/export"), help="fp32/int8 intermediates")
    parser.add_argument("--root", type=Path, default=Path("."), help="paths in the config are relative to this")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--version", default=None, help="model_version to report (default: export.version)")
    parser.add_argument("--ngram", default=None, help="n-gram model folder to mix in (default: data.ngram)")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(args.threads)
    manifest = export(args.checkpoint, args.out, args.work, args.root, args.threads, args.version, args.ngram)
    print(
        json.dumps(
            {"temperature": manifest["temperature"], "metrics": manifest["metrics"]},
            indent=1,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
