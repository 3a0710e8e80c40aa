"""Where the bundled data lives (dictionaries, stopwords, lexicon, taxonomy, samples, golden sets).

The files are package data of the ``data`` package, found through importlib.resources: from the
source tree in an editable install, from site-packages when kesheng is installed from a wheel.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_dir() -> Path:
    """The folder of the bundled data (a real folder: kesheng is never imported from a zip)."""
    return Path(str(files("data")))


def data_path(*parts: str) -> Path:
    """Path of a bundled data file, e.g. ``data_path("dict", "domain.txt")``."""
    return data_dir().joinpath(*parts)
