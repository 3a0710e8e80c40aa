"""The training recipe: one TOML file with every hyper-parameter and the seed, validated into typed
sections (spaCy-style: unknown or missing keys are errors naming the key), with `--set` overrides."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from nlp.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    """Files, relative to the run's root (``--root``; the repository for the development pool's
    recipes). ``kesheng train --data`` fills in what a recipe leaves empty (training.recipe)."""

    train: str
    dev: str
    evals: dict[str, str]
    base_encoder: str
    # Logits [n, 2] of a teacher model for the rows of `train`, in order (training.teacher writes
    # them); "" trains on the labels alone.
    teacher_logits: str = ""
    # A character n-gram model folder (training.ngram) that export mixes with the transformer; "" = none.
    ngram: str = ""
    # Share of each label of the training data held out as the dev set when the recipe has none.
    dev_fraction: float = 0.15


@dataclass(frozen=True)
class ModelConfig:
    """The classifier on the encoder and its input window."""

    layers: int
    text_prefix: str
    max_length: int
    head_tokens: int
    dropout: float
    freeze_word_embeddings: bool


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, batching, checkpoints and reporting."""

    batch_size: int
    lr: float
    warmup_fraction: float
    weight_decay: float
    grad_clip: float
    epochs: int
    max_steps: int
    mega_batches: int
    checkpoint_every: int
    eval_every: int
    log_every: int
    eval_batch_size: int
    threads: int
    stop_after_minutes: float
    # Knowledge distillation (Hinton et al. 2015): the loss is (1 - w) × cross-entropy on the labels
    # + w × T² × KL(teacher ‖ student) on logits softened by T. Used only with data.teacher_logits.
    distill_weight: float = 0.0
    distill_temperature: float = 2.0


@dataclass(frozen=True)
class ExportConfig:
    """What training.export needs beyond the weights."""

    window_stride: int
    opset: int
    max_int8_loss_points: float
    # The model_version the exported model reports ("" = training.export's default name).
    version: str = ""
    # Fuse attention, layer norms and GELU (onnxruntime.transformers) before quantising: exact in
    # fp32, and the fused int8 graph measured 1.2-1.35× faster than the unfused one.
    fuse: bool = False


@dataclass(frozen=True)
class Config:
    """The whole recipe; `to_dict` is recorded in every checkpoint and in the model manifest."""

    seed: int
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    export: ExportConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, the same shape as the TOML file."""
        return asdict(self)


_SECTIONS: dict[str, type[Any]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "export": ExportConfig,
}
_SCALARS: dict[str, tuple[type[Any], ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
}


def _check_keys(
    table: dict[str, Any], known: Sequence[str], where: str, source: str, optional: Sequence[str] = ()
) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{source}: unknown key {where}{key!r} (known: {', '.join(known)})")
    for key in known:
        if key not in table and key not in optional:
            raise ConfigError(f"{source}: missing key {where}{key!r}")


def _typed(value: Any, type_name: str, name: str, source: str) -> Any:
    if type_name == "dict[str, str]":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{source}: {name} must be a table of strings, got {value!r}")
        return dict(value)
    expected = _SCALARS[type_name]
    # bool is an int in Python; a flag written as 1 or a count written as true is a mistake.
    if isinstance(value, bool) != (type_name == "bool") or not isinstance(value, expected):
        raise ConfigError(f"{source}: {name} must be {type_name}, got {value!r}")
    return float(value) if type_name == "float" else value


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Validate a parsed config: every key known, present and of the right type."""
    _check_keys(raw, ["seed", *_SECTIONS], "", source)
    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        table = raw[section]
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        names = [f.name for f in fields(cls)]
        # Keys added after a recipe was written have defaults, so old manifests' configs still load.
        optional = [f.name for f in fields(cls) if f.default is not MISSING]
        _check_keys(table, names, f"{section}.", source, optional)
        types = {f.name: str(f.type) for f in fields(cls)}
        sections[section] = cls(
            **{k: _typed(table[k], types[k], f"{section}.{k}", source) for k in names if k in table}
        )
    seed = _typed(raw["seed"], "int", "seed", source)
    config = Config(seed=seed, **sections)
    if config.model.head_tokens >= config.model.max_length:
        raise ConfigError(f"{source}: model.head_tokens must be below model.max_length")
    for name in ("batch_size", "checkpoint_every", "eval_every", "log_every", "eval_batch_size", "threads"):
        if getattr(config.train, name) < 1:
            raise ConfigError(f"{source}: train.{name} must be at least 1")
    if config.train.max_steps < 0 or (config.train.max_steps == 0 and config.train.epochs < 1):
        raise ConfigError(f"{source}: set train.max_steps > 0 or train.epochs >= 1")
    if not 0.0 <= config.train.distill_weight <= 1.0 or config.train.distill_temperature <= 0:
        raise ConfigError(f"{source}: train.distill_weight must be in [0, 1] and distill_temperature above 0")
    if not 0.0 < config.data.dev_fraction < 1.0:
        raise ConfigError(f"{source}: data.dev_fraction must be between 0 and 1, got {config.data.dev_fraction}")
    if config.train.distill_weight > 0 and not config.data.teacher_logits:
        raise ConfigError(f"{source}: train.distill_weight > 0 needs data.teacher_logits")
    return config


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `section.key=value` (value in TOML syntax; bare words are strings) in place."""
    path, sep, text = assignment.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"--set {assignment!r}: expected SECTION.KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    *parents, key = path.strip().split(".")
    table = raw
    for part in parents:
        child = table.get(part)
        if not isinstance(child, dict):
            raise ConfigError(f"--set {assignment!r}: unknown section {part!r}")
        table = child
    if key not in table:
        raise ConfigError(f"--set {assignment!r}: unknown key {path.strip()!r}")
    table[key] = value


def load_config(path: Path, overrides: Sequence[str] = ()) -> Config:
    """Read a TOML config, apply `--set` overrides, validate."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    for assignment in overrides:
        apply_override(raw, assignment)
    return config_from_dict(raw, str(path))
