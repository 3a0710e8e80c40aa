"""Model registry and the default model.

The committed default sentiment model lives in ``models/default`` (ONNX, tokenizer, manifest and
model card); see its MODEL_CARD.md. It is the built-in first version of the registry
(``models.registry.Registry``), which holds retrained versions and says which one is active;
``models.hotswap.ActiveScorer`` follows the active version in a running service.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"


def default_model_dir() -> Path | None:
    """The default model's folder, or None when no model is installed there (the lexicon is used)."""
    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / "manifest.json").is_file() else None
