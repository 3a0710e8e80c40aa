"""What the registry holds: a version as read from its folder, and the active pointer's content.

A registered version is a folder ``<root>/<version>/`` with model.onnx, tokenizer.json and
manifest.json (parent version, data hashes, config, metrics, library versions, created time), and
optionally weights/ (the torch checkpoint as safetensors, so a retrain can start from it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.errors import ModelError

MANIFEST_FILE = "manifest.json"
WEIGHTS_DIR = "weights"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", MANIFEST_FILE)
# Safe in a path and a URL, and cannot start with a dot (dot names are the registry's own).
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file of the registry; ModelError names the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: not a readable JSON file: {error}") from error
    if not isinstance(data, dict):
        raise ModelError(f"{path}: must hold a JSON object")
    return data


@dataclass(frozen=True)
class ModelVersion:
    """One version as read from its folder. `active` is a snapshot taken when it was read."""

    version: str
    path: Path
    manifest: Mapping[str, Any]
    builtin: bool
    active: bool = False

    @property
    def parent_version(self) -> str | None:
        """The version it was fine-tuned from (None for the built-in one)."""
        parent = self.manifest.get("parent_version")
        return parent if isinstance(parent, str) else None

    @property
    def created(self) -> str | None:
        """When the model was exported (ISO 8601, UTC)."""
        created = self.manifest.get("created")
        return created if isinstance(created, str) else None

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Per evaluation set: accuracy, macro_f1, roc_auc, n (as exported), without the int8 study."""
        raw = self.manifest.get("metrics") or {}
        keys = ("accuracy", "macro_f1", "roc_auc", "n")
        # A three-way model's manifest keeps each set's shipped figures under "shipped".
        shipped = {n: f.get("shipped", f) if isinstance(f, dict) else f for n, f in raw.items()}
        return {
            name: {k: figures[k] for k in keys if k in figures}
            for name, figures in shipped.items()
            if isinstance(figures, dict) and "accuracy" in figures
        }

    @property
    def checkpoint(self) -> Path | None:
        """The torch checkpoint (safetensors) a retrain can start from, when the version has one."""
        folder = self.path / WEIGHTS_DIR
        return folder if (folder / "model.safetensors").is_file() else None

    def to_dict(self) -> dict[str, Any]:
        """The summary the CLI prints and GET /v1/models returns."""
        return {
            "version": self.version,
            "active": self.active,
            "builtin": self.builtin,
            "parent_version": self.parent_version,
            "created": self.created,
            "registered": self.manifest.get("registered"),
            "metrics": self.metrics,
            "data": self.manifest.get("data", {}),
            "training_data": self.manifest.get("training_data", {}),
            "has_weights": self.checkpoint is not None,
            "path": str(self.path),
        }


@dataclass(frozen=True)
class ActiveState:
    """The content of active.json: the active version, the stack below it, and a change counter."""

    version: str
    history: tuple[str, ...] = ()
    generation: int = 0
    changed: str | None = None
    events: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)


__all__ = [
    "MANIFEST_FILE",
    "REQUIRED_FILES",
    "VERSION_PATTERN",
    "WEIGHTS_DIR",
    "ActiveState",
    "ModelVersion",
    "read_json",
]
