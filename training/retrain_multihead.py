"""The three-way path of retraining (training.retrain): your labelled texts fine-tune the version
retraining starts from into a new three-way + emotion version.

1. the three-way recipe (training.recipe.resolve_three_way_recipe) and validation of the --data files
   against the recipe's evaluation sets and the golden sets; a stratified dev share is held out
   (``<out>/data/dev.tsv``), the rest is ``<out>/data/train.tsv`` (both ``label, emotion, scope, text``);
2. the start (training.multitask_user.load_start): the active version's ``weights/`` when it has
   them, else its ``model.onnx`` read back by training.from_onnx; a resumed run keeps the version it
   started from (``lineage.json``);
3. training.multitask_user.UserTrainer (progress lines, ``last/`` to resume, ``best/``);
4. the export (``export_three_way``): training.export_multihead's fused fp32 graph checked against
   torch, int8 with the fewest fp32 MatMuls within ``export.max_int8_loss_points`` on the sets that
   can measure it, the starting version's tokenizer and window; its character n-gram model and
   weight are kept, and of its n-gram heads those for a task your labels do not touch (a head
   fitted on other data would outvote what you taught the encoder); the temperatures are refitted
   on the dev share when it holds ``export.refit_min_rows`` texts for them, else the start's are
   kept; every set's figures for the folder as the runtime loads it, int8 alone and fp32;
5. ``weights/`` (the best checkpoint, so the next retrain starts from exact weights); training.retrain
   then writes the model card (training.model_card_multihead.render_user_card), reports on the golden
   sets and registers the version (not promoted).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluate import read_labelled
from models.versions import ModelVersion
from nlp.errors import ModelError
from nlp.schema import EMOTIONS, LABELS
from nlp.sentiment.ngram import HEADS_FILE as NGRAM_HEADS_FILE
from nlp.sentiment.ngram import PARAMS_FILE as NGRAM_PARAMS_FILE
from nlp.sentiment.ngram import WEIGHTS_FILE as NGRAM_WEIGHTS_FILE
from nlp.sentiment.transformer import TransformerScorer
from training.calibrate import fit_temperature_classes
from training.classifier import encode
from training.export_multihead import Set, figures, fp32_graph, judged, onnx_outputs, quantise
from training.multitask import load_multihead
from training.multitask_user import HEADS_FILE, RECIPE_FILE, Start, UserTrainer, load_start
from training.onnx_graph import session
from training.recipe import DEV_SET_NAME, ThreeWayRecipe, hold_out_rows, resolve_three_way_recipe
from training.validate import (
    TrainingExample,
    ValidationConfig,
    ValidationReport,
    label_counts,
    read_labelled_tsv,
    validate,
    write_labelled_tsv,
)

Log = Callable[[str], None]
CLEAN_TRAIN = Path("data") / "train.tsv"
LINEAGE_FILE = "lineage.json"
MAX_FOLDER_BYTES = 60 * 1024 * 1024
PROBE_ROWS = 32


@dataclass(frozen=True)
class ThreeWayRun:
    """What the three-way path made: the model folder and its manifest (the card is written), the
    validation it passed, how many texts were held out, and the lineage."""

    model_dir: Path
    manifest: dict[str, Any]
    validation: ValidationReport
    held_out: int
    parent: str
    started_from: str


# ---- evaluation sets ---------------------------------------------------------------------------------
def labelled_sets(name: str, path: Path, ids: Callable[[Sequence[str]], list[list[int]]]) -> list[Set]:
    """A labelled file as export sets: its polarity (binary or three-way) and its emotions, if any."""
    data = read_labelled(path)
    out = []
    view = data.binary()
    if data.polarity is not None:
        out.append(Set(name, "three_way", list(data.texts), ids(data.texts), list(data.polarity)))
    elif view is not None:
        out.append(Set(name, "binary", list(data.texts), ids(data.texts), list(data.labels)))
    if data.emotions is not None:
        emotion_name = f"{name}_emotion" if out else name
        out.append(Set(emotion_name, "emotion", list(data.texts), ids(data.texts), list(data.emotions)))
    return out


def dev_sets(rows: Sequence[TrainingExample], ids: Callable[[Sequence[str]], list[list[int]]]) -> list[Set]:
    """The dev share as export sets: three-way rows, rows of two-way files (binary), rows with an emotion."""
    groups: list[tuple[str, str, list[tuple[str, int]]]] = [
        (DEV_SET_NAME, "three_way", [(r.text, r.polarity) for r in rows if r.polarity is not None and not r.two_way]),
        (f"{DEV_SET_NAME}_binary", "binary", [(r.text, int(r.polarity == 2)) for r in rows if r.two_way]),
        (f"{DEV_SET_NAME}_emotion", "emotion", [(r.text, r.emotion) for r in rows if r.emotion is not None]),
    ]
    return [
        Set(name, kind, [t for t, _ in pairs], ids([t for t, _ in pairs]), [y for _, y in pairs])
        for name, kind, pairs in groups
        if pairs
    ]


# ---- export ------------------------------------------------------------------------------------------
def _refit(
    scorer: TransformerScorer, rows: Sequence[TrainingExample], minimum: int
) -> tuple[float | None, float | None]:
    """Polarity and emotion temperatures fitted on the dev rows as the runtime reads them, each None
    when the dev share holds fewer than `minimum` texts labelled for it."""
    polarity_rows = [r for r in rows if r.polarity is not None]
    emotion_rows = [r for r in rows if r.emotion is not None]
    temperature = emotion_temperature = None
    if len(polarity_rows) >= minimum:
        logits, _ = scorer.outputs([r.text for r in polarity_rows])
        temperature = fit_temperature_classes(logits, [int(r.polarity or 0) for r in polarity_rows])
    if len(emotion_rows) >= minimum and scorer.manifest.emotions:
        _, emotion = scorer.outputs([r.text for r in emotion_rows])
        if emotion is not None:
            emotion_temperature = fit_temperature_classes(emotion, [int(r.emotion or 0) for r in emotion_rows])
    return temperature, emotion_temperature


def export_three_way(
    best: Path,
    start: Start,
    out: Path,
    work: Path,
    recipe: ThreeWayRecipe,
    sets: Sequence[Set],
    dev_rows: Sequence[TrainingExample],
    labelled: set[str],
    threads: int,
) -> dict[str, Any]:
    """Export the checkpoint `best` into the model folder `out` (see the module docstring); `labelled`
    names the heads your data has labels for ("polarity" for three-way labels, "emotion")."""
    started = time.monotonic()
    model = load_multihead(best)
    probe = sorted((ids for s in sets for ids in s.ids), key=len)
    fp32_path = fp32_graph(model, work, threads, probe[:: max(1, len(probe) // PROBE_ROWS)])
    fp32_sess = session(fp32_path, threads)
    fp32 = {s.name: onnx_outputs(fp32_sess, s.ids) for s in sets}
    limit = recipe.export.max_int8_loss_points
    int8_path = work / "model-int8.onnx"
    kind, int8, attempts = quantise(fp32_path, int8_path, sets, fp32, threads, limit, judged(sets, limit))

    parent = start.manifest
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file():
            stale.unlink()
    shutil.copyfile(int8_path, out / "model.onnx")
    shutil.copyfile(start.folder / "tokenizer.json", out / "tokenizer.json")
    ngram_weight = float(parent.get("ngram_weight", 0.0))
    if ngram_weight > 0:
        for name in (NGRAM_WEIGHTS_FILE, NGRAM_PARAMS_FILE):
            shutil.copyfile(start.folder / name, out / name)
    heads = {name: w for name, w in (parent.get("ngram_heads") or {}).items() if name not in labelled}
    if heads:
        shutil.copyfile(start.folder / NGRAM_HEADS_FILE, out / NGRAM_HEADS_FILE)
    runtime: dict[str, Any] = {
        "name": parent["name"],
        "version": "candidate",
        "format": "onnx",
        "labels": list(LABELS),
        "emotions": list(EMOTIONS),
        "text_prefix": start.text_prefix,
        "max_length": start.max_length,
        "window_stride": parent["window_stride"],
        "temperature": float(parent.get("temperature", 1.0)) if start.three_way else 1.0,
        "emotion_temperature": float(parent.get("emotion_temperature", 1.0)) if start.emotions else 1.0,
        **({"ngram_weight": ngram_weight} if ngram_weight > 0 else {}),
        **({"ngram_heads": heads} if heads else {}),
    }
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(runtime, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    temperature, emotion_temperature = _refit(
        TransformerScorer.load(out, threads=threads), dev_rows, recipe.export.refit_min_rows
    )
    calibration = {
        "temperature": "dev share" if temperature is not None else "starting version",
        "emotion_temperature": "dev share" if emotion_temperature is not None else "starting version",
        "refit_min_rows": recipe.export.refit_min_rows,
    }
    if temperature is not None:
        runtime["temperature"] = round(temperature, 5)
    if emotion_temperature is not None:
        runtime["emotion_temperature"] = round(emotion_temperature, 5)
    manifest_path.write_text(json.dumps(runtime, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    scorer = TransformerScorer.load(out, threads=threads)
    metrics: dict[str, Any] = {}
    for s in sets:
        polarity, emotion = scorer.outputs(s.texts)
        if emotion is None:
            raise ModelError(f"{out}: the exported model gives no emotion logits")
        metrics[s.name] = {
            "kind": s.kind,
            "shipped": figures(s, polarity.astype(np.float32), emotion.astype(np.float32)),
            "transformer_int8": figures(s, *int8[s.name]),
            "transformer_fp32": figures(s, *fp32[s.name]),
        }
    metrics["quantisation"] = {"limit_points": limit, "attempts": attempts, "shipped": kind}
    state = json.loads((best / "state.json").read_text(encoding="utf-8"))
    history = [
        json.loads(line)
        for line in (best.parent / "history.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    manifest = {
        **runtime,
        "base_model": parent.get("base_model"),
        "data": parent.get("data", {}),
        "config": recipe.to_dict(),
        "metrics": metrics,
        "calibration": calibration,
        "ngram_heads_dropped": sorted(set(parent.get("ngram_heads") or {}) - set(heads)),
        "libraries": {n: package_version(n) for n in ("torch", "transformers", "onnxruntime", "tokenizers", "onnx")},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {
            "best": {"step": state["step"], **state.get("dev", {})},
            "history": [r for r in history if "dev" in r],
            "export_seconds": round(time.monotonic() - started, 1),
        },
        "sizes": {"model.onnx": (out / "model.onnx").stat().st_size, "fp32_onnx": fp32_path.stat().st_size},
    }
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    weights = out / "weights"
    weights.mkdir(exist_ok=True)
    for name in ("model.safetensors", "encoder_config.json", HEADS_FILE):
        shutil.copyfile(best / name, weights / name)
    shutil.copyfile(start.folder / "tokenizer.json", weights / "tokenizer.json")
    (weights / RECIPE_FILE).write_text(json.dumps(recipe.to_dict(), indent=2) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    if total > MAX_FOLDER_BYTES:
        raise ModelError(f"{out}: {total / 2**20:.1f} MB exceeds the {MAX_FOLDER_BYTES / 2**20:.0f} MB limit")
    return manifest


# ---- the run -------------------------------------------------------------------------------------------
def train_three_way(
    *,
    config: Path,
    data: Sequence[Path],
    overrides: Sequence[str],
    root: Path,
    out: Path,
    resume: bool,
    validation_config: ValidationConfig,
    golden: Mapping[str, Path],
    active: ModelVersion,
    log: Log,
) -> ThreeWayRun:
    """Steps 1-5 of the module docstring; `active` is the version a new run starts from."""
    plan = resolve_three_way_recipe(config, data=data, overrides=overrides, root=root, out=out, golden=golden)
    recipe = plan.recipe
    for note in plan.notes:
        log(note)
    validation = validate(plan.train_files, plan.evaluation_sets, validation_config)
    for problem in validation.warnings:
        log(str(problem))
    validation.raise_for_errors()
    log(f"validated: {validation.summary()}")
    dev, rows = hold_out_rows(validation.rows, recipe.data.dev_fraction, recipe.seed)
    write_labelled_tsv(dev, plan.held_out_dev)
    digest = write_labelled_tsv(rows, out / CLEAN_TRAIN)
    log(
        f"dev set: {len(dev)} of your texts held out ({label_counts(dev)}), stratified by label; "
        f"{len(rows)} to train on"
    )
    if resume:
        if not (out / LINEAGE_FILE).is_file():
            raise ModelError(f"{out / LINEAGE_FILE}: missing; nothing to resume (run without --resume)")
        lineage = json.loads((out / LINEAGE_FILE).read_text(encoding="utf-8"))
        start_folder = Path(lineage["start_folder"])
    else:
        start_folder = active.path
        lineage = {
            "path": "three-way",
            "parent_version": active.version,
            "started_from": f"version {active.version}",
            "start_folder": str(start_folder.resolve()),
        }
    start = load_start(start_folder, recipe.model.dropout)
    if not start.emotions and not any(r.emotion is not None for r in validation.rows):
        log(
            f"note: {lineage['parent_version']} has no emotion head and your labels give no emotions: "
            "the new version's emotions are untrained (label some, or train a model that has them)"
        )
    trainer = UserTrainer(recipe, start, read_labelled_tsv(out / CLEAN_TRAIN), dev, out, digest)
    if resume:
        trainer.resume()
    else:
        (out / LINEAGE_FILE).write_text(json.dumps(lineage, ensure_ascii=False) + "\n", encoding="utf-8")
    parent, started_from = str(lineage["parent_version"]), str(lineage["started_from"])
    log(f"fine-tuning from {started_from} (its {start.read_from}): three-way polarity and emotions")
    trainer.run()

    def ids(texts: Sequence[str]) -> list[list[int]]:
        return encode(start.tokenizer, texts, start.text_prefix, start.max_length, recipe.model.head_tokens)

    sets = [
        s
        for name, rel in recipe.data.evals.items()
        if name != DEV_SET_NAME
        for s in labelled_sets(name, root / rel, ids)
    ]
    sets += dev_sets(dev, ids)
    labelled = {"emotion"} if any(r.emotion is not None for r in validation.rows) else set()
    if any(r.polarity is not None and not r.two_way for r in validation.rows):
        labelled.add("polarity")
    model_dir = out / "model"
    manifest = export_three_way(
        out / "best", start, model_dir, out / "export-work", recipe, sets, dev, labelled, recipe.train.threads
    )
    manifest["started_from"] = started_from
    manifest["start"] = {"version": parent, "read_from": start.read_from, "data_sha256": digest}
    return ThreeWayRun(model_dir, manifest, validation, len(dev), parent, started_from)


__all__ = [
    "ThreeWayRun",
    "dev_sets",
    "export_three_way",
    "labelled_sets",
    "train_three_way",
]
