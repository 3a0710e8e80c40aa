"""Where kesheng keeps what it writes for a user or a service: the data home.

``$KESHENG_HOME``, else ``$XDG_DATA_HOME/kesheng``, else ``~/.local/share/kesheng``; never the
current directory or the source tree, so a wheel install works from any folder. It holds the model
registry (``models/``) and the base encoder that retraining builds from the installed packages
(``base-encoder/``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HOME_ENV = "KESHENG_HOME"
REGISTRY_DIR = "models"
BASE_ENCODER_DIR = "base-encoder"


def data_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$KESHENG_HOME``, else ``$XDG_DATA_HOME/kesheng``, else ``~/.local/share/kesheng``."""
    env = os.environ if environ is None else environ
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser()
    data = Path(env["XDG_DATA_HOME"]).expanduser() if env.get("XDG_DATA_HOME") else Path.home() / ".local/share"
    return data / "kesheng"


def default_registry_root(environ: Mapping[str, str] | None = None) -> Path:
    """The model registry of this user: ``<data home>/models``."""
    return data_home(environ) / REGISTRY_DIR


def default_base_encoder(environ: Mapping[str, str] | None = None) -> Path:
    """The base encoder retraining starts from when a recipe names none: ``<data home>/base-encoder``."""
    return data_home(environ) / BASE_ENCODER_DIR


__all__ = [
    "BASE_ENCODER_DIR",
    "HOME_ENV",
    "REGISTRY_DIR",
    "data_home",
    "default_base_encoder",
    "default_registry_root",
]
