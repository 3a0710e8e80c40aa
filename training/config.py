"""The training recipe: one TOML file with every hyper-parameter and the seed, read into typed sections
by nlp.settings (spaCy-style: an unknown key, a missing one or a value out of range is an error naming
the file and the key), with `--set` overrides.

Keys added after a recipe was written have defaults, so the recipes recorded in older checkpoints and
manifests still load; every other key is required.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nlp import settings
from nlp.settings import Invalid, setting


@dataclass(frozen=True)
class DataConfig:
    """Files, relative to the run's root (``--root``; the repository for the development pool's
    recipes). ``kesheng train --data`` fills in what a recipe leaves empty (training.recipe).

    Kept as the strings written, not Paths: they start at the run's root rather than the file's folder,
    and `Config.to_dict` records them as they are. A `setting()` without a default is required (type
    checkers take it for a default, so a required field after one is written as one too).
    """

    train: str = setting(empty=True)
    dev: str = setting(empty=True)
    evals: dict[str, str] = setting()
    base_encoder: str = setting(empty=True)
    # Logits [n, 2] of a teacher model for the rows of `train`, in order (training.teacher writes
    # them); "" trains on the labels alone.
    teacher_logits: str = setting("", empty=True)
    # A character n-gram model folder (training.ngram) that export mixes with the transformer; "" = none.
    ngram: str = setting("", empty=True)
    # Share of each label of the training data held out as the dev set when the recipe has none.
    dev_fraction: float = setting(0.15, low=0.0, high=1.0, open_low=True, open_high=True)


@dataclass(frozen=True)
class ModelConfig:
    """The classifier on the encoder and its input window."""

    layers: int = setting(low=1)
    text_prefix: str = setting(empty=True)
    max_length: int = setting(low=1)
    head_tokens: int = setting(low=0)
    dropout: float = setting(low=0.0, high=1.0, open_high=True)
    freeze_word_embeddings: bool = setting()

    def __post_init__(self) -> None:
        # A longer text keeps head_tokens from its head and the rest of the window from its tail.
        if self.head_tokens >= self.max_length:
            raise Invalid("head_tokens", f"must be below max_length ({self.max_length})")


@dataclass(frozen=True)
class LoopSettings:
    """What the fine-tuning loop (training.loop) reads: optimisation, batching, checkpoints and
    reporting. The binary recipe's [train] (``TrainConfig``) and the three-way one's
    (training.recipe.UserTrain) add what their own loss and optimiser need."""

    batch_size: int = setting(low=1)
    lr: float = setting(low=0.0, open_low=True)
    warmup_fraction: float = setting(low=0.0, high=1.0)
    weight_decay: float = setting(low=0.0)
    # The largest gradient norm; 0 would scale every gradient to nothing.
    grad_clip: float = setting(low=0.0, open_low=True)
    epochs: int = setting(low=0)
    # 0 = epochs × batches per epoch; otherwise the schedule decays to 0 at this step.
    max_steps: int = setting(low=0)
    mega_batches: int = setting(low=1)
    checkpoint_every: int = setting(low=1)
    eval_every: int = setting(low=1)
    log_every: int = setting(low=1)
    eval_batch_size: int = setting(low=1)
    threads: int = setting(low=1)
    # 0 = no wall-time budget.
    stop_after_minutes: float = setting(low=0.0)

    def __post_init__(self) -> None:
        if self.max_steps == 0 and self.epochs < 1:
            raise Invalid("epochs", "must be >= 1 when max_steps = 0 (the steps are epochs × batches)")


@dataclass(frozen=True)
class TrainConfig(LoopSettings):
    """The binary recipe's [train]: the loop's settings and the distillation from a teacher."""

    # Knowledge distillation (Hinton et al. 2015): the loss is (1 - w) × cross-entropy on the labels
    # + w × T² × KL(teacher ‖ student) on logits softened by T. Used only with data.teacher_logits.
    distill_weight: float = setting(0.0, low=0.0, high=1.0)
    distill_temperature: float = setting(2.0, low=0.0, open_low=True)


@dataclass(frozen=True)
class ExportConfig:
    """What training.export needs beyond the weights."""

    # Overlap in tokens of the windows the runtime scores a long text in.
    window_stride: int = setting(low=0)
    opset: int = setting(low=1)
    max_int8_loss_points: float = setting(low=0.0)
    # The model_version the exported model reports ("" = training.export's default name).
    version: str = setting("", empty=True)
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

    def __post_init__(self) -> None:
        if self.train.distill_weight > 0 and not self.data.teacher_logits:
            raise Invalid("train.distill_weight", "needs data.teacher_logits (the teacher's logits to distil)")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, the same shape as the TOML file."""
        return asdict(self)


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Validate a parsed recipe (a TOML file's, or one recorded in a checkpoint or a manifest);
    ConfigError names `source` and the key."""
    return settings.from_mapping(Config, raw, source)


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `section.key=value` (value in TOML syntax; bare words are strings) in place; the key
    must be one the recipe declares (it may be missing from an older recipe)."""
    settings.apply_override(Config, raw, assignment)


def load_config(path: Path, overrides: Sequence[str] = ()) -> Config:
    """Read a TOML config, apply `--set` overrides, validate."""
    raw = settings.read_toml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return config_from_dict(raw, str(path))
