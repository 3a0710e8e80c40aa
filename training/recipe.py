"""The recipe of a retraining run: a training TOML or a version's manifest.json (its ``config``), with
``--set`` overrides, resolved against what the run has.

Paths in a recipe are relative to the run's root (``--root``, by default the current folder). With
``--data`` (your own labelled files) a recipe needs nothing but those files; what it leaves empty,
or names but the run does not have, is filled in:

- data.train: always the validated copy of the --data files (``<out>/data/train.tsv``);
- data.dev: "" or a missing file → a stratified share (``data.dev_fraction`` of each label) of your
  texts is held out as ``<out>/data/dev.tsv``: model selection, the temperature and the n-gram
  weight are fitted on it;
- data.evals: sets whose file is missing are dropped; when none is left, the promotion gate's golden
  sets (the committed samples, shipped as package data) are the evaluation sets, with the held-out dev
  share beside them;
- data.base_encoder: "" → ``<data home>/base-encoder`` (``$KESHENG_HOME``, see models.home), built
  from the installed packages when missing;
- data.teacher_logits: off, as a teacher's logits are row-aligned with the pool's train.tsv.

Without --data the recipe trains on its own data.train (the development pool's recipes, a version's
manifest): every file it names must exist, since a reproduction needs exactly those.

The packaged default recipe (``PACKAGED_RECIPE``, training/configs/sentiment.toml) is the one for
your own data on the binary path; binary versions are rebuilt from their manifest.

The three-way path (three-way or emotion labels, or a three-way active version: training.retrain)
reads a three-way recipe (``ThreeWayRecipe``: ``kind = "three-way"``, the packaged
training/configs/three_way.toml, another TOML of that kind, or a three-way version's manifest.json,
whose ``config`` is its recipe) with ``--set`` overrides, resolved by ``resolve_three_way_recipe``:
it always trains on the --data files, holds out ``data.dev_fraction`` of them as the dev set
(``<out>/data/dev.tsv``), and scores the new version on the recipe's evaluation sets that are here,
the golden sets and that dev share. When the packaged binary recipe is the one asked for (no
--config), the packaged three-way recipe takes its place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from models.home import BASE_ENCODER_DIR
from nlp import settings
from nlp.errors import ConfigError
from nlp.settings import read_toml, setting
from training.config import Config, LoopSettings, apply_override, config_from_dict
from training.pool import Example, stratified_split
from training.validate import TrainingExample

PACKAGED_RECIPE = Path(__file__).resolve().parent / "configs" / "sentiment.toml"
PACKAGED_THREE_WAY_RECIPE = Path(__file__).resolve().parent / "configs" / "three_way.toml"
THREE_WAY_KIND = "three-way"
CLEAN_TRAIN = Path("data") / "train.tsv"
HELD_OUT_DEV = Path("data") / "dev.tsv"
# The name of the held-out dev share among the evaluation sets.
DEV_SET_NAME = "dev"


@dataclass(frozen=True)
class Recipe:
    """What a run trains with: the Config (every path filled in), the files to validate, the sets the
    training texts must stay out of, where the held-out dev share goes (None: the recipe's own dev
    set) and the notes to show the user about what was filled in."""

    config: Config
    train_files: tuple[Path, ...]
    evaluation_sets: Mapping[str, Path]
    held_out_dev: Path | None
    notes: tuple[str, ...]


# ---- the three-way recipe ---------------------------------------------------------------------
@dataclass(frozen=True)
class UserData:
    """Your texts' dev share and further evaluation sets (kesheng train adds the golden sets)."""

    dev_fraction: float = setting(low=0.0, high=1.0, open_low=True, open_high=True)
    evals: dict[str, str] = setting()


@dataclass(frozen=True)
class UserModel:
    """What the recipe sets of the model; the encoder and window are the starting version's."""

    head_tokens: int = setting(low=0)
    dropout: float = setting(low=0.0, high=1.0, open_high=True)


@dataclass(frozen=True)
class UserTrain(LoopSettings):
    """The loop's settings (``lr`` is the encoder's), the heads' learning rate and what is distilled
    from the start."""

    head_lr: float = setting(low=0.0, open_low=True)
    distill_weight: float = setting(low=0.0)
    distill_temperature: float = setting(low=0.0, open_low=True)
    emotion_weight: float = setting(low=0.0)


@dataclass(frozen=True)
class UserExport:
    """What the export of a three-way version needs beyond the weights."""

    max_int8_loss_points: float = setting(low=0.0)
    refit_min_rows: int = setting(low=1)


@dataclass(frozen=True)
class ThreeWayRecipe:
    """The whole recipe of the three-way path; `to_dict` is recorded in checkpoints and the manifest."""

    kind: Literal["three-way"]
    seed: int
    data: UserData
    model: UserModel
    train: UserTrain
    export: UserExport

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, the same shape as the TOML file."""
        return asdict(self)


def read_three_way_recipe(raw: dict[str, Any], source: str) -> ThreeWayRecipe:
    """Validate a parsed three-way recipe; ConfigError names `source` and the key."""
    return settings.from_mapping(ThreeWayRecipe, raw, source)


def apply_three_way_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``section.key=value`` (``--set``) to a parsed three-way recipe, the key checked."""
    settings.apply_override(ThreeWayRecipe, raw, assignment)


def read_recipe(path: Path) -> dict[str, Any]:
    """The raw config dict of a training TOML, or of a model manifest.json's ``config``."""
    if path.suffix.lower() == ".json":
        return dict(read_manifest(path)["config"])
    return read_toml(path)


def read_manifest(path: Path) -> dict[str, Any]:
    """A model manifest.json used as a recipe: its ``config`` and the figures it recorded."""
    try:
        manifest = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not a valid config: {error}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise ConfigError(f"{path}: a manifest used as a config needs a 'config' object")
    if "multitask" in manifest["config"]:
        raise ConfigError(
            f"{path}: {manifest.get('version')} is a three-way + emotion model, trained by "
            "`python -m training.multitask` and exported by `python -m training.export_multihead` "
            "(its MODEL_CARD.md, section Reproduce); `kesheng train --data FILE` fine-tunes it on your "
            "labels with the packaged three-way recipe"
        )
    if manifest["config"].get("kind") == THREE_WAY_KIND:
        raise ConfigError(
            f"{path}: {manifest.get('version')} was fine-tuned on labelled texts by the three-way path; "
            f"its recipe trains again with your file: kesheng train --config {path} --data FILE"
        )
    return manifest


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a valid config: {error}") from error


def resolve_recipe(
    source: Path,
    *,
    data: Sequence[Path],
    overrides: Sequence[str],
    root: Path,
    out: Path,
    home: Path,
    golden: Mapping[str, Path],
) -> Recipe:
    """Read `source`, apply `overrides` and fill in the data paths as the module docstring says.
    `home` is the data home (for the default base encoder), `golden` the gate's golden sets."""
    raw = read_recipe(source)
    for assignment in overrides:
        apply_override(raw, assignment)
    table = raw.get("data")
    if not isinstance(table, dict) or not isinstance(table.get("train"), str):
        raise ConfigError(f"{source}: [data] must be a table with a train key")
    if not data and not table["train"]:
        raise ConfigError(f"{source}: the recipe names no training file (data.train); give one with --data FILE")
    own_data = bool(data)
    notes: list[str] = []
    files = tuple(data) or (root / table["train"],)
    # Training always reads the validated copy, so what was checked is exactly what is learnt.
    table["train"] = str((out / CLEAN_TRAIN).resolve())

    held_out_dev = _fill_dev(table, root, out, notes) if own_data else None
    if own_data:
        _fill_evals(table, root, golden, held_out_dev, notes)
    if own_data and table.get("teacher_logits") and not any(o.startswith("data.teacher_logits") for o in overrides):
        notes.append("note: --data given, so distillation is off (the teacher's logits are for the pool's rows)")
        table["teacher_logits"] = ""
        if isinstance(raw.get("train"), dict):
            raw["train"]["distill_weight"] = 0.0
    if table.get("base_encoder") == "":
        table["base_encoder"] = str(home / BASE_ENCODER_DIR)

    config = config_from_dict(raw, str(source))
    sets: dict[str, Path] = {} if held_out_dev is not None else {"dev": root / config.data.dev}
    own_sets = {held_out_dev, *(path.resolve() for path in golden.values())}
    for name, rel in config.data.evals.items():
        if (root / rel).resolve() not in own_sets:
            sets[name] = root / rel
    sets.update({f"golden:{name}": path for name, path in golden.items()})
    for name, path in sets.items():
        if not path.is_file():
            raise ConfigError(f"{path}: evaluation set {name!r} of the recipe not found")
    return Recipe(config, files, sets, held_out_dev, tuple(notes))


def _fill_dev(table: dict[str, Any], root: Path, out: Path, notes: list[str]) -> Path | None:
    """Point data.dev at the held-out share of your texts when the recipe's dev set is absent."""
    dev = table.get("dev")
    if not isinstance(dev, str) or (dev and (root / dev).is_file()):
        return None  # the recipe's own dev set (or a mistyped key, which config_from_dict names)
    if dev:
        notes.append(f"note: the recipe's dev set {root / dev} is not here; a share of your texts is held out")
    held_out_dev = (out / HELD_OUT_DEV).resolve()
    table["dev"] = str(held_out_dev)
    return held_out_dev


def _fill_evals(
    table: dict[str, Any], root: Path, golden: Mapping[str, Path], held_out_dev: Path | None, notes: list[str]
) -> None:
    """Keep the recipe's evaluation sets that are here; none left: the golden sets; plus the dev share."""
    evals = table.get("evals")
    if not isinstance(evals, dict):
        return
    present = {name: rel for name, rel in evals.items() if isinstance(rel, str) and (root / rel).is_file()}
    for name in sorted(set(evals) - set(present)):
        notes.append(f"note: evaluation set {name!r} of the recipe ({root / evals[name]}) is not here; skipped")
    if not present:
        present = {name: str(path) for name, path in golden.items()}
        notes.append(f"evaluation sets: the golden sets {', '.join(golden)}")
    if held_out_dev is not None:
        name = DEV_SET_NAME if DEV_SET_NAME not in present else f"heldout_{DEV_SET_NAME}"
        present[name] = str(held_out_dev)
    table["evals"] = present


def is_three_way_recipe(path: Path) -> bool:
    """Whether `path` is a three-way recipe (a TOML, or a version's manifest.json, of that kind)."""
    if path.suffix.lower() == ".json":
        try:
            manifest = json.loads(_read_text(path))
        except json.JSONDecodeError:
            return False  # read_manifest names what is wrong with it
        config = manifest.get("config") if isinstance(manifest, dict) else None
        return isinstance(config, dict) and config.get("kind") == THREE_WAY_KIND
    return read_toml(path).get("kind") == THREE_WAY_KIND


@dataclass(frozen=True)
class ThreeWayPlan:
    """What a three-way run trains with: the recipe (its evaluation sets filled in), the files to
    validate, the sets the training texts must stay out of, where the dev share goes, and notes."""

    recipe: ThreeWayRecipe
    train_files: tuple[Path, ...]
    evaluation_sets: Mapping[str, Path]
    held_out_dev: Path
    notes: tuple[str, ...]


def resolve_three_way_recipe(
    source: Path,
    *,
    data: Sequence[Path],
    overrides: Sequence[str],
    root: Path,
    out: Path,
    golden: Mapping[str, Path],
) -> ThreeWayPlan:
    """Read the three-way recipe `source` (the packaged one in place of the packaged binary one),
    apply `overrides` and fill in the evaluation sets, as the module docstring says."""
    if source == PACKAGED_RECIPE:
        source = PACKAGED_THREE_WAY_RECIPE
    if not data:
        raise ConfigError(f"{source}: a three-way recipe trains on your labelled texts; give them with --data FILE")
    if not is_three_way_recipe(source):
        raise ConfigError(
            f"{source}: a binary recipe, but this run is three-way (your labels include neutral or emotions, or "
            "the active version is a three-way model); leave --config out for the packaged "
            f'{PACKAGED_THREE_WAY_RECIPE.name}, or give a recipe with kind = "three-way" (or pass --from-base '
            "with negative/positive labels for a binary model)"
        )
    raw = dict(json.loads(_read_text(source))["config"]) if source.suffix.lower() == ".json" else read_toml(source)
    for assignment in overrides:
        apply_three_way_override(raw, assignment)
    recipe = read_three_way_recipe(raw, str(source))
    notes: list[str] = []
    present: dict[str, str] = {}
    for name, rel in recipe.data.evals.items():
        if name in golden or name == DEV_SET_NAME:
            continue  # filled in below: a recorded recipe names them
        if (root / rel).is_file():
            present[name] = rel
        else:
            notes.append(f"note: evaluation set {name!r} of the recipe ({root / rel}) is not here; skipped")
    held_out_dev = (out / HELD_OUT_DEV).resolve()
    evals = {**present, **{name: str(path) for name, path in golden.items()}, DEV_SET_NAME: str(held_out_dev)}
    named = f"the recipe's {', '.join(present)}, " if present else ""
    notes.append(f"evaluation sets: {named}the golden sets {', '.join(golden)}, and a dev share of your texts")
    raw["data"] = {**raw.get("data", {}), "evals": evals}
    recipe = read_three_way_recipe(raw, str(source))
    sets = {name: root / rel for name, rel in present.items()}
    sets.update({f"golden:{name}": path for name, path in golden.items()})
    for name, path in sets.items():
        if not path.is_file():
            raise ConfigError(f"{path}: evaluation set {name!r} of the recipe not found")
    return ThreeWayPlan(recipe, tuple(data), sets, held_out_dev, tuple(notes))


def hold_out_rows(
    rows: Sequence[TrainingExample], fraction: float, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(dev, train) of validated rows of any kind: `fraction` of each label (of each emotion for rows
    with an emotion only) held out by a seeded shuffle, at least one of each that has two or more."""
    # stratified_split takes the pool's Examples: each carries its row's index as the label.
    wrapped = [Example(i, row.text, row.source, row.stratum()) for i, row in enumerate(rows)]
    dev, train = stratified_split(wrapped, fraction, seed, lambda e: e.group, minimum=1)
    return [rows[e.label] for e in dev], [rows[e.label] for e in train]


def hold_out_dev(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(dev, train) of validated training texts: `fraction` of each label held out by a seeded
    shuffle, at least one text of each label that has two or more, both in file order."""
    return stratified_split(examples, fraction, seed, lambda e: e.label, minimum=1)


__all__ = [
    "CLEAN_TRAIN",
    "DEV_SET_NAME",
    "HELD_OUT_DEV",
    "PACKAGED_RECIPE",
    "PACKAGED_THREE_WAY_RECIPE",
    "Recipe",
    "ThreeWayPlan",
    "ThreeWayRecipe",
    "UserTrain",
    "apply_three_way_override",
    "hold_out_dev",
    "hold_out_rows",
    "is_three_way_recipe",
    "read_manifest",
    "read_recipe",
    "read_three_way_recipe",
    "resolve_recipe",
    "resolve_three_way_recipe",
]
