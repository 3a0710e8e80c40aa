"""Retraining for data scientists: validate → fine-tune → export → evaluate → register (not promote).

``kesheng train --config FILE [--data FILE ...] [--set key=value ...]`` is a thin edge over
``retrain``. The steps read like the diagram:

1. the recipe: a training TOML (training/configs/*.toml) or a model's manifest.json (its ``config``,
   which is how a version is reproduced), with ``--set`` overrides; ``--data`` files replace
   ``data.train`` (and switch off distillation: a teacher's logits belong to the pool's rows);
2. validation (training.validate) of the training files against each other and against every
   evaluation set (the recipe's dev and eval sets and the gate's golden sets): refused with every
   problem named before anything is trained; the accepted rows become ``<out>/data/train.tsv``;
3. start weights: the active version's checkpoint when it has one and matches the recipe, else the
   base encoder (built from the installed packages when missing);
4. training.train's Trainer (progress lines, checkpoints in ``<out>/last``, ``resume``);
5. training.export of ``<out>/best`` to ``<out>/model`` (ONNX int8, manifest, card), plus the
   checkpoint as ``weights/`` so the next retrain can start from this version;
6. the report (training.report) on the gate's golden sets, written into the model folder;
7. registry.register as a new version with its parent, data hashes and golden figures. Promotion
   is a separate, gated step (``kesheng models promote``).

A manifest recipe without ``--data`` is a reproduction: the new version's figures on the recipe's
evaluation sets are set against the ones the manifest recorded (``Reproduction``), printed and kept
in the new manifest under ``reproduces``.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.gate import GATE_METRICS, MetricDelta, delta_rows
from models.registry import ModelVersion, Registry
from nlp.errors import ConfigError, ModelError
from training.report import ModelReport, evaluate_sets, write_model_report
from training.validate import ValidationConfig, ValidationReport, validate, write_clean_tsv

if TYPE_CHECKING:
    from training.config import Config

CHECKPOINT_FILES = (
    "model.safetensors",
    "encoder_config.json",
    "tokenizer.json",
    "train_config.json",
    "metrics.json",
    "build_manifest.json",
)
CLEAN_TRAIN = Path("data") / "train.tsv"
# Where a run records the version it started from, so that --resume registers the same lineage.
LINEAGE_FILE = "lineage.json"
NGRAM_DIR = "ngram"
# How far a reproduced version's figures may be from the recorded ones, in percentage points.
REPRODUCE_TOLERANCE_POINTS = 0.5
Log = Callable[[str], None]


@dataclass(frozen=True)
class RetrainRequest:
    """What `kesheng train` was asked to do. Paths in the recipe are relative to `root`."""

    config: Path
    data: tuple[Path, ...] = ()
    overrides: tuple[str, ...] = ()
    out: Path = Path("runs/retrain")
    root: Path = Path(".")
    resume: bool = False
    version: str | None = None
    from_base: bool = False
    validation: ValidationConfig = field(default_factory=ValidationConfig)


@dataclass(frozen=True)
class Reproduction:
    """A retrain from a version's manifest against the figures that version recorded on the same
    evaluation sets: reproduced when every figure is within `tolerance_points` either way."""

    recorded: str
    deltas: tuple[MetricDelta, ...]
    tolerance_points: float = REPRODUCE_TOLERANCE_POINTS

    @property
    def misses(self) -> tuple[MetricDelta, ...]:
        """The (set, metric) pairs further from the recorded figure than the tolerance."""
        return tuple(d for d in self.deltas if abs(d.delta_points) > self.tolerance_points)

    @property
    def reproduced(self) -> bool:
        """True when there was something to compare and every figure is within the tolerance."""
        return bool(self.deltas) and not self.misses

    def table(self) -> str:
        """A plain-text table: set, metric, recorded, reproduced, change, and the verdict."""
        headings = ("evaluation set", self.recorded, "now")
        lines = delta_rows(self.deltas, headings, self.misses, f"beyond ±{self.tolerance_points:g} pt")
        verdict = "reproduced" if self.reproduced else "NOT reproduced"
        lines.append(f"{verdict}: {self.recorded}'s figures within ±{self.tolerance_points:g} pt")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the new version's manifest."""
        return {
            "version": self.recorded,
            "tolerance_points": self.tolerance_points,
            "reproduced": self.reproduced,
            "deltas": [
                {"set": d.golden_set, "metric": d.metric, "recorded": d.baseline, "now": d.candidate}
                for d in self.deltas
            ],
        }


def reproduction(recorded: Mapping[str, Any], metrics: Mapping[str, Any]) -> Reproduction:
    """The figures in `metrics` (an exported manifest's) against a recorded manifest's, on every
    evaluation set and metric both have."""
    before = recorded.get("metrics") or {}
    deltas = [
        MetricDelta(name, metric, float(metrics[name][metric]), float(figures[metric]), int(metrics[name]["n"]))
        for name, figures in before.items()
        if isinstance(figures, dict) and isinstance(metrics.get(name), dict)
        for metric in GATE_METRICS
        if figures.get(metric) is not None and metrics[name].get(metric) is not None
    ]
    return Reproduction(str(recorded.get("version", "?")), tuple(deltas))


@dataclass(frozen=True)
class RetrainResult:
    """The registered version, the validation it passed and its report on the golden sets (and,
    for a manifest recipe without --data, how it compares with the recorded figures)."""

    version: ModelVersion
    validation: ValidationReport
    report: ModelReport
    started_from: str
    reproduction: Reproduction | None = None


def read_recipe(path: Path) -> dict[str, Any]:
    """The raw config dict of a training TOML, or of a model manifest.json's ``config``."""
    if path.suffix.lower() == ".json":
        return dict(read_manifest(path)["config"])
    try:
        return tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not a valid config: {error}") from error


def read_manifest(path: Path) -> dict[str, Any]:
    """A model manifest.json used as a recipe: its ``config`` and the figures it recorded."""
    try:
        manifest = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not a valid config: {error}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise ConfigError(f"{path}: a manifest used as a config needs a 'config' object")
    return manifest


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a valid config: {error}") from error


def build_recipe(request: RetrainRequest, clean_train: Path, log: Log) -> tuple[Config, list[Path]]:
    """The validated training.train Config (recipe, overrides, `clean_train` as data.train) and the
    training files to validate: the --data files, else the recipe's own data.train."""
    from training.config import apply_override, config_from_dict

    raw = read_recipe(request.config)
    for assignment in request.overrides:
        apply_override(raw, assignment)
    data = raw.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("train"), str):
        raise ConfigError(f"{request.config}: [data] must be a table with a train file")
    files = list(request.data) or [request.root / data["train"]]
    # Training always reads the validated copy, so what was checked is exactly what is learnt.
    data["train"] = str(clean_train.resolve())
    if (
        request.data
        and data.get("teacher_logits")
        and not any(o.startswith("data.teacher_logits") for o in request.overrides)
    ):
        # A teacher's logits are row-aligned with the pool's train.tsv, not with new data.
        log("note: --data given, so distillation is off (the teacher's logits are for the pool's rows)")
        data["teacher_logits"] = ""
        if isinstance(raw.get("train"), dict):
            raw["train"]["distill_weight"] = 0.0
    return config_from_dict(raw, str(request.config)), files


def evaluation_sets(config: Config, root: Path, golden: Mapping[str, Path]) -> dict[str, Path]:
    """Every set the training data must stay out of: the recipe's dev and eval sets and the golden sets."""
    sets = {"dev": root / config.data.dev, **{n: root / p for n, p in config.data.evals.items()}}
    sets.update({f"golden:{name}": path for name, path in golden.items()})
    for name, path in sets.items():
        if not path.is_file():
            raise ConfigError(f"{path}: evaluation set {name!r} of the recipe not found")
    return sets


def ensure_base_encoder(folder: Path, root: Path, log: Log) -> None:
    """Build the base encoder from the installed packages when it is missing (minutes, once)."""
    if (folder / "model.safetensors").is_file():
        return
    pool = root / "runs" / "pool" / "train.tsv"
    if not pool.is_file():
        raise ConfigError(
            f"{folder}: no base encoder, and {pool} to build it is missing; run python -m training.pool "
            "--shared ../shared/data --out runs/pool, then python -m training.build_encoder --out runs/base-encoder"
        )
    from training.build_encoder import main as build_encoder

    log(f"building the base encoder into {folder} (once)")
    build_encoder(["--out", str(folder), "--pool", str(pool)])


def start_weights(active: ModelVersion, config: Config, root: Path, from_base: bool) -> Path | None:
    """The checkpoint to start from: the active version's when it has one that fits the recipe."""
    checkpoint = active.checkpoint
    if from_base or checkpoint is None:
        return None
    saved = json.loads((checkpoint / "train_config.json").read_text(encoding="utf-8"))
    base_tokenizer = root / config.data.base_encoder / "tokenizer.json"
    if saved["model"]["layers"] != config.model.layers:
        raise ModelError(
            f"{checkpoint}: the active version {active.version} has {saved['model']['layers']} layers, the recipe "
            f"{config.model.layers}; set model.layers to match, or pass --from-base to start from the base encoder"
        )
    # The same pieces in the same order (tokenizers adds default keys when it re-saves a file).
    if _vocabulary(checkpoint / "tokenizer.json") != _vocabulary(base_tokenizer):
        raise ModelError(
            f"{checkpoint}: the active version {active.version} was trained with another vocabulary than "
            f"{base_tokenizer}; pass --from-base to start from the base encoder"
        )
    return checkpoint


def _vocabulary(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))["model"]["vocab"]


def retrain(request: RetrainRequest, registry: Registry, log: Log = print) -> RetrainResult:
    """Validate, fine-tune, export, evaluate and register a new version; see the module docstring."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from safetensors.torch import load_file

    from nlp.sentiment.transformer import TransformerScorer
    from training.export import export
    from training.model_card import render_model_card
    from training.train import Trainer

    root, out = request.root, request.out
    if not request.resume and (out / "last").exists():
        raise ConfigError(f"{out / 'last'} exists: pass --resume to continue that run, or choose another --out")
    recipe, train_files = build_recipe(request, out / CLEAN_TRAIN, log)
    # A version's manifest without --data is a reproduction: its figures as recorded when the run starts.
    recorded = read_manifest(request.config) if request.config.suffix.lower() == ".json" and not request.data else None
    golden = dict(registry.gate.golden)
    validation = validate(train_files, evaluation_sets(recipe, root, golden), request.validation)
    for problem in validation.warnings:
        log(str(problem))
    validation.raise_for_errors()
    log(f"validated: {validation.summary()}")
    write_clean_tsv(validation, out / CLEAN_TRAIN)
    ngram = None
    if recipe.data.ngram:
        # The n-gram model is part of the recipe: fitted on this run's own training data.
        from training.ngram import fit_ngram

        fit_ngram([e.text for e in validation.examples], [e.label for e in validation.examples]).save(out / NGRAM_DIR)
        ngram = str((out / NGRAM_DIR).resolve())
        log(f"n-gram model fitted on {len(validation.examples)} texts")

    ensure_base_encoder(root / recipe.data.base_encoder, root, log)
    trainer = Trainer(recipe, out, root)
    if request.resume:
        trainer.resume()
        # The parent is the version the run started from, even if another became active since.
        lineage = json.loads((out / LINEAGE_FILE).read_text(encoding="utf-8"))
    else:
        active = registry.active()
        checkpoint = start_weights(active, recipe, root, request.from_base)
        if checkpoint is not None:
            trainer.model.load_state_dict(load_file(str(checkpoint / "model.safetensors")), strict=True)
        started = f"version {active.version}" if checkpoint else f"base encoder {recipe.data.base_encoder}"
        lineage = {"parent_version": active.version, "started_from": started}
        (out / LINEAGE_FILE).write_text(json.dumps(lineage, ensure_ascii=False) + "\n", encoding="utf-8")
    parent, started_from = str(lineage["parent_version"]), str(lineage["started_from"])
    log(f"fine-tuning from {started_from}")
    trainer.run()

    model_dir = out / "model"
    version = request.version or registry.next_version_name()
    manifest = export(
        out / "best", model_dir, out / "export-work", root, recipe.train.threads, version=version, ngram=ngram
    )
    weights = model_dir / "weights"
    weights.mkdir(exist_ok=True)
    for name in CHECKPOINT_FILES:
        if (out / "best" / name).is_file():
            shutil.copyfile(out / "best" / name, weights / name)

    replay = None
    if recorded is not None:
        replay = reproduction(recorded, manifest["metrics"])
        manifest["reproduces"] = replay.to_dict()
        log(replay.table())
    manifest.update(
        parent_version=parent,
        started_from=started_from,
        training_data={
            "files": [vars(f) for f in validation.files],
            "texts": len(validation.examples),
            "positive": sum(e.label for e in validation.examples),
            "warnings": [p.to_dict() for p in validation.warnings],
        },
    )
    (model_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    (model_dir / "MODEL_CARD.md").write_text(render_model_card(manifest), encoding="utf-8")
    report = evaluate_sets(TransformerScorer.load(model_dir, threads=recipe.train.threads), golden)
    write_model_report(report, model_dir)
    registered = registry.register(model_dir, version=version, parent=parent)
    for result in report.sets:
        registry.store_evaluation(version, result.name, result.report)
    log(f"registered {version} (parent {parent}) in {registered.path}")
    return RetrainResult(registered, validation, report, started_from, replay)


__all__ = [
    "REPRODUCE_TOLERANCE_POINTS",
    "Reproduction",
    "RetrainRequest",
    "RetrainResult",
    "build_recipe",
    "ensure_base_encoder",
    "evaluation_sets",
    "read_manifest",
    "read_recipe",
    "reproduction",
    "retrain",
    "start_weights",
]
