"""One mechanism that reads every configuration section from TOML (or the environment) into its dataclass.

The dataclasses are the single home of the defaults; this module derives the reader from their type
hints, so a key a section does not declare, or a value of the wrong type, is an error naming the file
and the key (``kesheng.toml: alerts.share[0].threshold = 1.5: must be in (0, 1) (E200)``). Ranges and
choices a type cannot say are given per field with ``setting(...)``; checks across fields are the
dataclass's ``__post_init__`` raising ``Invalid`` (the reader adds where it was).

Supported field types: bool, int, float, str, Path, Literal[...], X | None, tuple[str, ...],
tuple[<dataclass>, ...] (TOML arrays of tables), Mapping[str, <any of these>] (a table of name = value;
of tables for a dataclass) and nested dataclasses. ``apply_override`` sets one ``dotted.key=value``
(a command line's ``--set``) in a parsed document, the key checked against the same dataclasses.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar, cast

from nlp.errors import ConfigError

T = TypeVar("T")
_META = "kesheng"


class Invalid(ValueError):
    """Raised by a section's ``__post_init__``: `key` (a field of that section, or a dotted path to a
    field of one of its sections, for a rule across sections) and why it is wrong.

    `value` is what to show; by default the value as written in the file (or the field's value).
    """

    def __init__(self, key: str, why: str, value: Any = dataclasses.MISSING) -> None:
        super().__init__(f"{key}: {why}")
        self.key, self.why, self.value = key, why, value


def setting(
    default: Any = dataclasses.MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    allowed: tuple[str, ...] = (),
    empty: bool = False,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with the limits the reader checks (numbers in [low, high], strings non-empty
    unless `empty`, list items among `allowed`)."""
    meta = {"low": low, "high": high, "open_low": open_low, "open_high": open_high, "allowed": allowed, "empty": empty}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata={_META: meta})
    return dataclasses.field(default=default, metadata={_META: meta})


class _Where:
    """Where a value is: the file (or the environment) and the dotted key."""

    def __init__(self, source: str, key: str = "", base: Path | None = None) -> None:
        self.source, self.key, self.base = source, key, base

    def child(self, name: str) -> _Where:
        return _Where(self.source, f"{self.key}.{name}" if self.key else name, self.base)

    def index(self, i: int) -> _Where:
        return _Where(self.source, f"{self.key}[{i}]", self.base)

    def fail(self, value: Any, why: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {self.key or '(top level)'} = {value!r}: {why} ({ConfigError.code})")


def _limits(meta: Mapping[str, Any], value: float, where: _Where, raw: Any) -> None:
    low, high = meta.get("low"), meta.get("high")
    open_low, open_high = meta.get("open_low", False), meta.get("open_high", False)
    too_low = low is not None and (value < low or (open_low and value == low))
    too_high = high is not None and (value > high or (open_high and value == high))
    if too_low or too_high:
        if low is not None and high is not None:
            where.fail(raw, f"must be in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}")
        where.fail(raw, f"must be {'>' if open_low else '>='} {low:g}" if too_low else f"must be <= {high:g}")


def _value(hint: Any, raw: Any, meta: Mapping[str, Any], where: _Where) -> Any:
    """`raw` (a parsed TOML value) checked against the type `hint`."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _value(options[0], raw, meta, where)
    if dataclasses.is_dataclass(hint):
        return read_section(cast(type[Any], hint), raw, where)
    if origin is Literal:
        if raw not in args:
            where.fail(raw, f"must be one of {', '.join(str(a) for a in args)}")
        return raw
    if hint is bool:
        if not isinstance(raw, bool):
            where.fail(raw, "must be true or false")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            where.fail(raw, "must be a whole number")
        _limits(meta, raw, where, raw)
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            where.fail(raw, "must be a number")
        _limits(meta, float(raw), where, raw)
        return float(raw)
    if hint is str or hint is Path:
        if not isinstance(raw, str) or (not meta.get("empty", False) and not raw.strip()):
            where.fail(raw, "must be a string" if meta.get("empty", False) else "must be a non-empty string")
        if hint is Path:
            path = Path(raw).expanduser()
            return where.base / path if where.base is not None and not path.is_absolute() else path
        return raw
    if origin is tuple:
        item_hint = args[0]
        if dataclasses.is_dataclass(item_hint):
            if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
                name = where.key.rsplit(".", 1)[-1]
                where.fail(raw, f"must be an array of tables ([[{name}]])")
            return tuple(read_section(cast(type[Any], item_hint), r, where.index(i)) for i, r in enumerate(raw))
        if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
            where.fail(raw, "must be a list of non-empty strings")
        allowed = meta.get("allowed", ())
        for item in raw:
            if allowed and item not in allowed:
                where.fail(item, f"must be one of {', '.join(allowed)}")
        if len(set(raw)) != len(raw):
            where.fail(raw, "has duplicates")
        return tuple(raw)
    if origin in (Mapping, dict) or hint is dict:
        if not isinstance(raw, dict):
            where.fail(raw, "must be a table of name = value")
        item_hint = args[1] if args else str
        return {key: _value(item_hint, item, meta, where.child(key)) for key, item in raw.items()}
    raise TypeError(f"nlp.settings cannot read fields of type {hint!r} ({where.key})")


def read_section(cls: type[T], table: Any, where: _Where) -> T:
    """An instance of the dataclass `cls` from a TOML table; defaults for what the table leaves out."""
    if not isinstance(table, dict):
        where.fail(table, "must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cast(Any, cls)) if f.init}
    for key in table:
        if key not in known:
            where.child(key).fail(table[key], "is not a known setting")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        if name in table:
            values[name] = _value(hints[name], table[name], spec.metadata.get(_META, {}), where.child(name))
        elif spec.default is not dataclasses.MISSING:
            values[name] = spec.default  # passed on, so an error of __post_init__ can show a default
        elif spec.default_factory is not dataclasses.MISSING:
            values[name] = spec.default_factory()
        else:
            where.child(name).fail(None, "is required")
    try:
        return cls(**values)
    except Invalid as error:
        shown = error.value
        if shown is dataclasses.MISSING:
            shown = _written(table, error.key, values)
        where.child(error.key).fail(shown, error.why)


def _written(table: Mapping[str, Any], key: str, values: Mapping[str, Any]) -> Any:
    """The value at the dotted `key` as the table wrote it, else as the section holds it (a default)."""
    head, *rest = key.split(".")
    written: Any = table
    for part in (head, *rest):
        if not isinstance(written, dict) or part not in written:
            break
        written = written[part]
    else:
        return written
    held = values.get(head)
    for part in rest:
        held = getattr(held, part, None)
    return held


def from_mapping(
    cls: type[T], data: Mapping[str, Any], source: str, base: Path | None = None, *, section: str = ""
) -> T:
    """Validate a parsed document into `cls`; `source` names the file in errors, relative paths start at
    `base`. With `section`, `data` is that table of the document (errors name ``section.key``; one that
    is not a table is an error too)."""
    return read_section(cls, dict(data) if isinstance(data, Mapping) else data, _Where(source, section, base))


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; ConfigError naming the file when it is missing or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: file not found ({ConfigError.code})") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror} ({ConfigError.code})") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error} ({ConfigError.code})") from error


def load(cls: type[T], path: Path, section: str | None = None) -> T:
    """The dataclass `cls` from a TOML file (or from one of its top-level tables); relative paths in it
    start at the file's folder."""
    data = read_toml(path)
    if section is not None:
        table = data.get(section, {})
        return read_section(cls, table, _Where(str(path), section, path.parent))
    return from_mapping(cls, data, str(path), path.parent)


def _member(hint: Any, name: str) -> Any:
    """The type of `name` inside a value of type `hint` (a dataclass field, a mapping's entry), else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if dataclasses.is_dataclass(hint):
        known = {f.name for f in dataclasses.fields(cast(Any, hint)) if f.init}
        return typing.get_type_hints(hint)[name] if name in known else None
    if typing.get_origin(hint) in (Mapping, dict) or hint is dict:
        args = typing.get_args(hint)
        return args[1] if args else str
    return None


def apply_override(cls: type[Any], data: dict[str, Any], assignment: str, source: str = "--set") -> None:
    """Set one ``dotted.key=value`` in the parsed document `data` (for `cls`) in place. The value is TOML
    (a bare word is a string) and is checked when `data` is read; the key must be one `cls` declares,
    whether or not the document has it (a table it leaves out is added)."""
    path, sep, text = assignment.partition("=")
    key = path.strip()
    if not sep or not key:
        raise ConfigError(f"{source} {assignment!r}: expected SECTION.KEY=VALUE ({ConfigError.code})")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    where = _Where(source, key)
    *parents, name = key.split(".")
    hint: Any = cls
    table = data
    for depth, part in enumerate([*parents, name]):
        hint = _member(hint, part)
        if hint is None:
            where.fail(value, "is not a known setting")
        if depth < len(parents):
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                where.fail(value, f"{'.'.join(parents[: depth + 1])} is not a table in the file")
            table = child
    table[name] = value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _from_text(hint: Any, text: str, where: _Where) -> Any:
    """An environment variable's text as the TOML value the field's type expects."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if not text.strip():
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        lowered = text.strip().lower()
        if lowered not in _TRUE + _FALSE:
            where.fail(text, "must be true or false (1/0, yes/no, on/off)")
        return lowered in _TRUE
    if hint in (int, float):
        try:
            return int(text) if hint is int else float(text)
        except ValueError:
            where.fail(text, "must be a whole number" if hint is int else "must be a number")
    if origin is tuple:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def with_environment(config: T, environ: Mapping[str, str], prefix: str) -> T:
    """`config` (a flat dataclass) with each field that ``<prefix><FIELD>`` sets in `environ` replaced,
    checked as a file value would be (the error names the variable)."""
    hints = typing.get_type_hints(type(config))
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cast(Any, config)):
        name = f"{prefix}{spec.name.upper()}"
        if name not in environ:
            continue
        where = _Where("environment", name)
        raw = _from_text(hints[spec.name], environ[name], where)
        values[spec.name] = None if raw is None else _value(hints[spec.name], raw, spec.metadata.get(_META, {}), where)
    if not values:
        return config
    try:
        updated: T = dataclasses.replace(cast(Any, config), **values)
    except Invalid as error:
        _Where("environment", f"{prefix}{error.key.upper()}").fail(values.get(error.key), error.why)
    return updated
