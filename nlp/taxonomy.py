"""The demand-theme taxonomy: configured themes with stable ids, seed words and a department."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from nlp.errors import ConfigError
from nlp.resources import data_path


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


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The theme taxonomy from a TOML file (data/themes.toml by default).

    Each ``[themes.<id>]`` table needs ``label``, ``department`` and ``seeds`` (a list of words).
    Raises ConfigError naming the file and key on anything else.
    """
    path = path or data_path("themes.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the taxonomy: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    tables = data.get("themes")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path} [themes]: expected one [themes.<id>] table per theme")
    themes: list[TaxonomyTheme] = []
    for theme_id, table in tables.items():
        where = f"{path} [themes.{theme_id}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table with label, department and seeds")
        unknown = set(table) - {"label", "department", "seeds"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        seeds = table.get("seeds")
        if not isinstance(seeds, list) or not seeds:
            raise ConfigError(f"{where} seeds: expected a non-empty list of words")
        themes.append(
            TaxonomyTheme(
                id=theme_id,
                label=_string(table.get("label"), f"{where} label"),
                department=_string(table.get("department"), f"{where} department"),
                seeds=tuple(_string(s, f"{where} seeds") for s in seeds),
            )
        )
    return Taxonomy(tuple(themes), str(path))
