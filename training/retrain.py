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

**Two paths.** The steps above are the binary path. With --data, the three-way path
(training.retrain_multihead) is taken instead when

- your labels include neutral or emotions (training.validate.data_kind), or
- the active version is a three-way model (the default model e5s-zh-3 is), or
- the recipe is a three-way one (``kind = "three-way"``);

it fine-tunes the active version itself (its ``weights/``, else its ``model.onnx``) on your texts and
registers a three-way + emotion version. A binary file then trains only the negative-vs-positive split
of the polarity head (training.multitask_user), so the neutral and emotion readings a user of a
three-way model relies on are kept rather than dropped for a binary model trained from scratch.
``--from-base`` asks for the base encoder, which is the binary path: it is refused with three-way or
emotion labels. A resumed run keeps the path and the start it began with (``lineage.json``). Both
paths end alike: report on the golden sets, register with the parent, never promote.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
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
    if not (checkpoint / "train_config.json").is_file():
        raise ModelError(
            f"{checkpoint}: the active version {active.version} is a three-way model; the binary path starts "
            "from the base encoder only (pass --from-base), the three-way path fine-tunes it (leave --from-base out)"
        )
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


def three_way_run(request: RetrainRequest, registry: Registry) -> bool:
    """Whether `request` takes the three-way path (see the module docstring); ConfigError for
    --from-base with three-way or emotion labels."""
    from training.recipe import is_three_way_recipe
    from training.validate import data_kind

    if request.resume and (request.out / LINEAGE_FILE).is_file():
        lineage = json.loads((request.out / LINEAGE_FILE).read_text(encoding="utf-8"))
        return bool(lineage.get("path") == "three-way")
    if not request.data:
        # A recipe's own data (a reproduction) is the binary path; a three-way recipe asks for --data.
        return is_three_way_recipe(request.config)
    kind = data_kind(request.data)
    if request.from_base:
        if kind == "three-way":
            raise ConfigError(
                "--from-base trains a binary model from the base encoder, but your labels include neutral or "
                "emotions; leave --from-base out to fine-tune the active version's three-way and emotion heads"
            )
        return False
    return kind == "three-way" or is_three_way_recipe(request.config) or three_way_active(registry)


def three_way_active(registry: Registry) -> bool:
    """Whether the active version reads three-way polarity (its manifest's labels)."""
    return list(registry.active().manifest.get("labels", [])) == ["negative", "neutral", "positive"]


def retrain(request: RetrainRequest, registry: Registry, log: Log = print) -> RetrainResult:
    """Validate, fine-tune, export, evaluate and register a new version; see the module docstring."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from nlp.sentiment.transformer import TransformerScorer

    out = request.out
    if not request.resume and (out / "last").exists():
        raise ConfigError(f"{out / 'last'} exists: pass --resume to continue that run, or choose another --out")
    golden = dict(registry.gate.golden)
    if three_way_run(request, registry):
        from training.model_card_multihead import render_user_card
        from training.retrain_multihead import train_three_way

        run = train_three_way(
            config=request.config,
            data=request.data,
            overrides=request.overrides,
            root=request.root,
            out=out,
            resume=request.resume,
            validation_config=request.validation,
            golden=golden,
            active=registry.active(),
            log=log,
        )
        trained = _Trained(run.model_dir, run.manifest, run.validation, run.held_out, run.parent, run.started_from)
        threads, card = int(run.manifest["config"]["train"]["threads"]), render_user_card
    else:
        trained = _train_binary(request, registry, golden, log)
        threads, card = int(trained.manifest["config"]["train"]["threads"]), _binary_card
    # Named once trained, so that a version registered meanwhile does not take the name.
    version = request.version or registry.next_version_name()
    validation, model_dir, manifest = trained.validation, trained.model_dir, trained.manifest
    manifest["version"] = version
    rows = validation.rows
    manifest.update(
        parent_version=trained.parent,
        started_from=trained.started_from,
        training_data={
            "files": [vars(f) for f in validation.files],
            "texts": len(rows),
            "positive": sum(r.polarity == 2 for r in rows),
            **({"neutral": sum(r.polarity == 1 for r in rows)} if validation.kind == "three-way" else {}),
            **({"emotions": sum(r.emotion is not None for r in rows)} if validation.kind == "three-way" else {}),
            "held_out_dev": trained.held_out,
            "warnings": [p.to_dict() for p in validation.warnings],
            "labels": _labels_line(validation),
        },
    )
    (model_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    (model_dir / "MODEL_CARD.md").write_text(card(manifest), encoding="utf-8")
    report = evaluate_sets(TransformerScorer.load(model_dir, threads=threads), golden)
    write_model_report(report, model_dir)
    registered = registry.register(model_dir, version=version, parent=trained.parent)
    for result in report.sets:
        if result.evaluation.binary is not None:
            registry.store_evaluation(version, result.name, result.report)
    log(f"registered {version} (parent {trained.parent}) in {registered.path}")
    return RetrainResult(registered, validation, report, trained.started_from, trained.reproduction)


def _labels_line(validation: ValidationReport) -> str:
    from training.validate import label_counts

    return label_counts(validation.rows)


def _binary_card(manifest: Mapping[str, Any]) -> str:
    from training.model_card import render_model_card

    return render_model_card(dict(manifest))


@dataclass(frozen=True)
class _Trained:
    """What either path made, before the report and the registration."""

    model_dir: Path
    manifest: dict[str, Any]
    validation: ValidationReport
    held_out: int
    parent: str
    started_from: str
    reproduction: Reproduction | None = None


def _train_binary(request: RetrainRequest, registry: Registry, golden: dict[str, Path], log: Log) -> _Trained:
    """Steps 1-5 of the binary path (the module docstring)."""
    from safetensors.torch import load_file

    from training.export import export
    from training.train import Trainer

    root, out = request.root, request.out
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
        lineage = {"path": "binary", "parent_version": active.version, "started_from": started}
        (out / LINEAGE_FILE).write_text(json.dumps(lineage, ensure_ascii=False) + "\n", encoding="utf-8")
    parent, started_from = str(lineage["parent_version"]), str(lineage["started_from"])
    log(f"fine-tuning from {started_from}")
    trainer.run()

    model_dir = out / "model"
    manifest = export(
        out / "best", model_dir, out / "export-work", root, recipe.train.threads, version=request.version, ngram=ngram
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
    return _Trained(
        model_dir, manifest, validation, len(validation.examples) - len(examples), parent, started_from, replay
    )


__all__ = [
    "RetrainRequest",
    "RetrainResult",
    "ensure_base_encoder",
    "retrain",
    "start_weights",
    "three_way_active",
    "three_way_run",
]
