"""The manifest.json of an exported model folder: what the runtime reads (nlp.sentiment.transformer's
ModelManifest) and everything that made the model: base encoder, data hashes, recipe, metrics,
library versions and the training run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from models.evaluate import read_labelled
from nlp.files import sha256_file
from training.classifier import BUILD_MANIFEST_FILE, LABELS, METRICS_FILE, STATE_FILE

MODEL_NAME = "kesheng-sentiment"
MODEL_VERSION = "e5s-zh-2"


def public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures a manifest records of classification_metrics' output."""
    return {k: metrics[k] for k in ("accuracy", "macro_f1", "roc_auc", "n", "confusion")}


def build_manifest(
    checkpoint: Path,
    config: dict[str, Any],
    root: Path,
    temperature: float,
    metrics: dict[str, Any],
    export_seconds: float,
) -> dict[str, Any]:
    """The manifest.json of the model folder (contract shared with nlp.sentiment.transformer)."""
    build = checkpoint / BUILD_MANIFEST_FILE
    base = json.loads(build.read_text(encoding="utf-8")) if build.is_file() else {}
    best = (
        json.loads((checkpoint / METRICS_FILE).read_text(encoding="utf-8"))
        if (checkpoint / METRICS_FILE).is_file()
        else {}
    )
    state_file = checkpoint.parent / "last" / STATE_FILE
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else {}
    data: dict[str, Any] = {}
    for rel in [config["data"]["train"], *dict.fromkeys(config["data"]["evals"].values())]:
        labels = read_labelled(root / rel).labels
        data[rel] = {
            "sha256": sha256_file(root / rel),
            "count": len(labels),
            "positive": sum(labels),
            "negative": len(labels) - sum(labels),
        }
    teacher = config["data"].get("teacher_logits")
    if teacher and float(config["train"].get("distill_weight", 0)) > 0:
        data[teacher] = {"sha256": sha256_file(root / teacher), "what": "teacher logits (training.teacher)"}
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "format": "onnx",
        "labels": list(LABELS),
        "text_prefix": config["model"]["text_prefix"],
        "max_length": config["model"]["max_length"],
        "window_stride": config["export"]["window_stride"],
        "temperature": round(temperature, 5),
        "base_model": {
            "name": base.get("base_model", "intfloat/multilingual-e5-small"),
            "layers_kept": config["model"]["layers"],
            "packages": base.get("packages", {}),
            "sources_sha256": base.get("sources_sha256", {}),
            "vocab": base.get("vocab", {}),
            "encoder_outputs_sha256": base.get("outputs_sha256", {}),
        },
        "data": data,
        "config": config,
        "metrics": metrics,
        "libraries": {name: version(name) for name in ("torch", "transformers", "onnxruntime", "tokenizers", "onnx")},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {
            "steps": best.get("step", state.get("step")),
            "epochs": round(float(best.get("epoch", 0.0)), 3),
            "wall_seconds": round(float(state.get("wall_seconds", 0.0)), 1),
            "seed": config["seed"],
            "steps_run": state.get("step"),
            "steps_per_epoch": state.get("steps_per_epoch"),
            "export_seconds": round(export_seconds, 1),
        },
    }


__all__ = ["MODEL_NAME", "MODEL_VERSION", "build_manifest", "public_metrics"]
