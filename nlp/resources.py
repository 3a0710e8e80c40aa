"""Where the project's bundled data lives (dictionaries, stopwords, lexicon, samples)."""

from __future__ import annotations

from pathlib import Path

# The repository layout puts data/ beside the packages; the project installs in editable mode
# (see Makefile), so the folder is found from the source tree.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def data_path(*parts: str) -> Path:
    """Path of a bundled data file, e.g. ``data_path("dict", "domain.txt")``."""
    return DATA_DIR.joinpath(*parts)
