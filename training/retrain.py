"""Retraining for data scientists: validate → fine-tune → export → evaluate → register (not promote).

``kesheng train --data FILE [--config RECIPE] [--set key=value ...]`` is a thin edge over
``retrain``, and so are the service's training jobs. The steps read like the diagram:

1. the recipe (training.recipe): the packaged one for your own data (training/configs/sentiment.toml),
   another training TOML, or a model's manifest.json (its ``config``, which is how a version is
   reproduced), with ``--set`` overrides; ``--data`` files replace ``data.train``, and what the recipe
   leaves empty or the run does not have (dev set, evaluation sets, base encoder) is filled in;
2. validation (training.validate) of the training files against each other and against every
   evaluation set (the recipe's dev and eval sets and the gate's golden sets): refused with every
   problem named before anything is trained; the accepted rows become ``<out>/data/train.tsv``, less
   the stratified dev share held out as ``<out>/data/dev.tsv`` when the recipe's dev set is absent;
3. start weights: the active version's checkpoint when it has one and matches the recipe, else the
   base encoder (built from the installed packages when missing, into the data home by default);
4. training.train's Trainer (progress lines, checkpoints in ``<out>/last``, ``resume``);
5. training.export of ``<out>/best`` to ``<out>/model`` (ONNX int8, manifest, card), plus the
   checkpoint as ``weights/`` so the next retrain can start from this version;
6. the report (training.report) on the gate's golden sets, written into the model folder;
7. registry.register as a new version with its parent, data hashes and golden figures. Promotion
   is a separate, gated step (``kesheng models promote``).

A manifest recipe without ``--data`` is a reproduction (training.reproduce): the new version's figures
on the recipe's evaluation sets are set against the ones the manifest recorded, printed and kept in
the new manifest under ``reproduces``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.home import BASE_ENCODER_DIR, data_home
from models.registry import ModelVersion, Registry
from nlp.errors import ConfigError, ModelError
from training.recipe import CLEAN_TRAIN, PACKAGED_RECIPE, hold_out_dev, read_manifest, resolve_recipe
from training.report import ModelReport, evaluate_sets, write_model_report
from training.reproduce import Reproduction, reproduction
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
# Where a run records the version it started from, so that --resume registers the same lineage.
LINEAGE_FILE = "lineage.json"
NGRAM_DIR = "ngram"
# The development pool's training file, relative to the run's root: a base encoder a recipe names is
# pruned to its vocabulary when it is there (as the default model's was).
POOL_TRAIN = Path("runs") / "pool" / "train.tsv"
Log = Callable[[str], None]


@dataclass(frozen=True)
class RetrainRequest:
    """What `kesheng train` (or a training job) was asked to do. Paths in the recipe are relative to
    `root`; `home` is the data home (None: ``$KESHENG_HOME`` …, see models.home), where the base
    encoder goes when the recipe names none."""

    config: Path = PACKAGED_RECIPE
    data: tuple[Path, ...] = ()
    overrides: tuple[str, ...] = ()
    out: Path = Path("runs/retrain")
    root: Path = Path(".")
    resume: bool = False
    version: str | None = None
    from_base: bool = False
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    home: Path | None = None


@dataclass(frozen=True)
class RetrainResult:
    """The registered version, the validation it passed and its report on the golden sets (and,
    for a manifest recipe without --data, how it compares with the recorded figures)."""

    version: ModelVersion
    validation: ValidationReport
    report: ModelReport
    started_from: str
    reproduction: Reproduction | None = None


def ensure_base_encoder(folder: Path, pool: Path | None, log: Log) -> None:
    """Build the base encoder from the installed packages when it is missing (seconds to minutes,
    once): its vocabulary pruned to the pool's texts when `pool` is given, else to the bundled
    golden samples'. Built beside `folder` and renamed, so a stopped build leaves nothing half-done."""
    if (folder / "model.safetensors").is_file():
        return
    from nlp.files import sha256_file
    from training.build_encoder import BuildConfig, build_encoder, bundled_texts
    from training.pool import read_pool_tsv

    if pool is not None:
        texts, source, digest = [t for _, t in read_pool_tsv(pool)], str(pool), sha256_file(pool)
    else:
        texts, source, digest = bundled_texts(), "bundled golden samples (data/samples/golden)", None
    log(f"building the base encoder into {folder} from the installed packages (once)")
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    build_encoder(tmp, BuildConfig(), texts, pool_sha256=digest, texts_source=source)
    shutil.rmtree(folder, ignore_errors=True)  # an empty or broken folder of an earlier attempt
    tmp.rename(folder)


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
    golden = dict(registry.gate.golden)
    home = request.home or data_home()
    plan = resolve_recipe(
        request.config,
        data=request.data,
        overrides=request.overrides,
        root=root,
        out=out,
        home=home,
        golden=golden,
    )
    recipe = plan.config
    for note in plan.notes:
        log(note)
    # A version's manifest without --data is a reproduction: its figures as recorded when the run starts.
    recorded = read_manifest(request.config) if request.config.suffix.lower() == ".json" and not request.data else None
    validation = validate(plan.train_files, plan.evaluation_sets, request.validation)
    for problem in validation.warnings:
        log(str(problem))
    validation.raise_for_errors()
    log(f"validated: {validation.summary()}")
    examples = list(validation.examples)
    if plan.held_out_dev is not None:
        dev, examples = hold_out_dev(examples, recipe.data.dev_fraction, recipe.seed)
        write_clean_tsv(dev, plan.held_out_dev)
        log(
            f"dev set: {len(dev)} of your texts held out ({sum(e.label for e in dev)} positive), "
            f"stratified by label; {len(examples)} to train on"
        )
    write_clean_tsv(examples, out / CLEAN_TRAIN)
    ngram = None
    if recipe.data.ngram:
        # The n-gram model is part of the recipe: fitted on this run's own training data.
        from training.ngram import fit_ngram

        fit_ngram([e.text for e in examples], [e.label for e in examples]).save(out / NGRAM_DIR)
        ngram = str((out / NGRAM_DIR).resolve())
        log(f"n-gram model fitted on {len(examples)} texts")

    encoder, pool = root / recipe.data.base_encoder, root / POOL_TRAIN
    # The data home's encoder depends on the installed packages alone; one a recipe names (the
    # development pool's runs/base-encoder) has the pool's vocabulary when the pool is there.
    named = encoder.resolve() != (home / BASE_ENCODER_DIR).resolve()
    ensure_base_encoder(encoder, pool if named and pool.is_file() else None, log)
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
            "held_out_dev": len(validation.examples) - len(examples),
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
    "RetrainRequest",
    "RetrainResult",
    "ensure_base_encoder",
    "retrain",
    "start_weights",
]
