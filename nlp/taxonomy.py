"""The demand-theme taxonomy: configured themes with stable ids, seed words and a department.

A taxonomy is a TOML file with one ``[themes.<id>]`` table per theme (``label``, ``department``,
``seeds``); the bundled one is data/themes.toml, a user's own is given with ``--themes FILE`` (or
``themes.taxonomy`` in kesheng.toml, or KESHENG_THEMES for the service).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nlp.errors import ConfigError
from nlp.resources import data_path
from nlp.settings import Invalid, from_mapping, read_toml


@dataclass(frozen=True)
class TaxonomyTheme:
    """A configured theme: a stable id, the label managers see, seed words and a department."""

    id: str
    label: str
    department: str
    seeds: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    themes: tuple[TaxonomyTheme, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class _ThemeTable:
    """One ``[themes.<id>]`` table as written in the file."""

    label: str
    department: str
    seeds: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.seeds:
            raise Invalid("seeds", "expected a non-empty list of words")


@dataclass(frozen=True)
class _TaxonomyFile:
    themes: Mapping[str, _ThemeTable]

    def __post_init__(self) -> None:
        if not self.themes:
            raise Invalid("themes", "expected one [themes.<id>] table per theme")


def seed_pattern(seeds: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression for seed words, the longest first (服务态度 wins over 服务 inside
    客服服务态度); None without seeds."""
    ordered = sorted({s for s in seeds if s}, key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None


def default_taxonomy_path() -> Path:
    return data_path("themes.toml")


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The theme taxonomy from a TOML file (data/themes.toml by default).

    Raises ConfigError naming the file and key on anything but ``[themes.<id>]`` tables with a
    non-empty ``label``, ``department`` and ``seeds`` list.
    """
    path = path or default_taxonomy_path()
    parsed = from_mapping(_TaxonomyFile, read_toml(path), str(path))
    themes = tuple(
        TaxonomyTheme(id=theme_id, label=t.label.strip(), department=t.department.strip(), seeds=t.seeds)
        for theme_id, t in parsed.themes.items()
    )
    if any(not theme_id.strip() for theme_id in parsed.themes):
        raise ConfigError(f"{path}: themes: a theme id is empty ({ConfigError.code})")
    return Taxonomy(themes, str(path))
