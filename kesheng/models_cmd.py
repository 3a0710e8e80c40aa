"""`kesheng train` and `kesheng models list | compare | promote | rollback`: the data scientist's
workflow over the model registry (models.registry) and retraining (training.retrain).

The registry is the user's (or service's) ``$KESHENG_HOME/models`` (see ``models.home``); the
promotion gate and validation thresholds come from the shipped ``training/configs/registry.toml``
(golden sets in the bundled data) or the file named by ``$KESHENG_REGISTRY_CONFIG`` (paths relative
to that file's folder). ``kesheng train --data FILE`` needs nothing else: the packaged recipe, a dev
share of FILE, the golden sets and a base encoder built into the data home (the binary path) or the
active version itself (the three-way path: three-way or emotion labels, or a three-way active version,
which the default model is). Exit codes:
0 done, 1 promotion refused by the gate, 2 error (bad data, config or model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nlp.errors import KeshengError, ModelError

if TYPE_CHECKING:
    from models.registry import Comparison, Registry

REFUSED = 1

models_app = typer.Typer(help="List, compare, promote and roll back sentiment model versions.", no_args_is_help=True)


def _fail(error: KeshengError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


def open_registry(root: Path | None = None) -> Registry:
    """The registry at `root`, else this user's (``$KESHENG_HOME/models``); the gate from the
    registry config ($KESHENG_REGISTRY_CONFIG or the shipped one)."""
    from models.registry import Registry, registry_config_path

    return Registry.from_env() if root is None else Registry(root, config=registry_config_path())


def resolve_model_folder(model: Path | None) -> Path | None:
    """`--model` → a model folder: a folder as given, a registered version by name, or (None) the
    active version; None when no model is installed at all (the caller falls back to the lexicon)."""
    from models.registry import ACTIVE_FILE, Registry

    if model is not None and model.is_dir():
        return model
    registry = Registry.from_env()
    if model is None:
        if registry.builtin is None and not (registry.root / ACTIVE_FILE).is_file():
            return None
        return registry.active().path
    try:
        return registry.get(str(model)).path
    except ModelError as error:
        raise ModelError(f"--model {model}: neither a model folder nor a registered version; {error}") from None


def _echo_comparison(comparison: Comparison) -> None:
    typer.echo(comparison.table())
    verdict = "passes" if comparison.passed else "fails"
    typer.echo(f"gate (margin {comparison.margin_points:g} pt): {comparison.candidate} {verdict}")


# ---- train -----------------------------------------------------------------------------------
def train(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labelled training file (CSV/TSV/JSONL): a text column and a label (0/1, 1 = positive; or "
            "negative/neutral/positive, 负面/中性/正面, 0/1/2 in a file with a 2) and/or an emotion column "
            "(emotion/情绪: angry…neutral or 愤怒…中性); repeatable."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Training recipe (TOML), or a model's manifest.json to reproduce it; default: the packaged "
            "recipe for your own data (training/configs/sentiment.toml, or three_way.toml when the labels "
            "include neutral or emotions or the active version is three-way)."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a recipe key, e.g. --set train.max_steps=50.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, logs, the exported model.")] = Path(
        "runs/retrain"
    ),
    root: Annotated[Path, typer.Option(help="Paths in the recipe are relative to this folder.")] = Path("."),
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")
    ] = False,
    version: Annotated[str | None, typer.Option(help="Name of the new version; default v<date>-<n>.")] = None,
    from_base: Annotated[
        bool,
        typer.Option(
            "--from-base",
            help="Train a binary model from the base encoder, not the active version (negative/positive labels only).",
        ),
    ] = False,
    drop_duplicates: Annotated[
        bool, typer.Option("--drop-duplicates", help="Keep the first copy of duplicate texts instead of refusing.")
    ] = False,
    registry_dir: Annotated[
        Path | None, typer.Option("--registry", help="Registry folder; default $KESHENG_HOME/models.")
    ] = None,
) -> None:
    """Validate training data, fine-tune, export and register a new model version (not promoted).

    Three-way or emotion labels, or a three-way active version, fine-tune the active version's
    polarity and emotion heads into a three-way version (training.retrain, the three-way path)."""
    from dataclasses import replace

    from training.recipe import PACKAGED_RECIPE
    from training.retrain import RetrainRequest, retrain
    from training.validate import ValidationConfig

    if config is None and not data:
        raise typer.BadParameter("give your labelled file with --data (or a recipe with --config)", param_hint="--data")
    try:
        registry = open_registry(registry_dir)
        validation = ValidationConfig.load(registry.config)
        if drop_duplicates:
            validation = replace(validation, duplicates="drop")
        request = RetrainRequest(
            config=config or PACKAGED_RECIPE,
            data=tuple(data or ()),
            overrides=tuple(set_ or ()),
            out=out,
            root=root,
            resume=resume,
            version=version,
            from_base=from_base,
            validation=validation,
        )
        result = retrain(request, registry, log=typer.echo)
        typer.echo(f"\n{result.version.version} against the active version on the golden sets:")
        _echo_comparison(registry.compare(result.version.version))
    except KeshengError as error:
        raise _fail(error) from None
    typer.echo(f"report: {result.version.path / 'report.html'}")
    typer.echo(f"promote with: kesheng models promote {result.version.version}")


# ---- models ----------------------------------------------------------------------------------
RegistryOption = Annotated[
    Path | None, typer.Option("--registry", help="Registry folder; default $KESHENG_HOME/models.")
]


@models_app.command("list")
def list_models(
    registry_dir: RegistryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every version (the built-in one first), the active one marked with *."""
    try:
        versions = open_registry(registry_dir).list_versions()
    except KeshengError as error:
        raise _fail(error) from None
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions], ensure_ascii=False, indent=1))
        return
    for v in versions:
        figures = ", ".join(f"{name} {m['accuracy']:.2%}" for name, m in v.metrics.items())
        origin = "built-in" if v.builtin else f"from {v.parent_version}"
        typer.echo(f"{'*' if v.active else ' '} {v.version:<20} {origin:<24} {v.created or '':<26} {figures}")


@models_app.command()
def compare(
    candidate: Annotated[str, typer.Argument(help="Version to judge.")],
    baseline: Annotated[str | None, typer.Argument(help="Version to judge against; default the active one.")] = None,
    registry_dir: RegistryOption = None,
) -> None:
    """Both versions on the golden sets, with the change and the gate's verdict."""
    try:
        comparison = open_registry(registry_dir).compare(candidate, baseline)
    except KeshengError as error:
        raise _fail(error) from None
    _echo_comparison(comparison)


@models_app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Version to make active.")],
    force: Annotated[bool, typer.Option("--force", help="Promote even when the gate refuses.")] = False,
    registry_dir: RegistryOption = None,
) -> None:
    """Make a version active if it is not worse than the active one beyond the gate's margin."""
    try:
        result = open_registry(registry_dir).promote(version, force=force, actor="cli")
    except KeshengError as error:
        raise _fail(error) from None
    if result.comparison is not None:
        _echo_comparison(result.comparison)
    typer.echo(result.reason if not result.promoted else f"{result.reason}: {result.previous} → {result.version}")
    if not result.promoted and result.comparison is not None:
        raise typer.Exit(code=REFUSED)


@models_app.command()
def rollback(registry_dir: RegistryOption = None) -> None:
    """Make the previously active version active again."""
    try:
        registry = open_registry(registry_dir)
        before = registry.state().version
        state = registry.rollback(actor="cli")
    except KeshengError as error:
        raise _fail(error) from None
    typer.echo(f"rolled back: {before} → {state.version}")


def register(app: typer.Typer) -> None:
    """Add `train` and the `models` group to the main app."""
    app.command()(train)
    app.add_typer(models_app, name="models")


__all__ = ["models_app", "open_registry", "register", "resolve_model_folder"]
