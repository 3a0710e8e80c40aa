"""Transcript JSON Lines, the canonical call format: one call per line,
{"id": "c1", "turns": [{"speaker": "客服", "text": "…", "start": 0.0, "end": 2.5}], "meta": {...}}.

Also the item building shared with plain-text transcripts.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

from nlp.errors import Location, RowProblem
from nlp.readers.columns import (
    build_meta,
    canonical_header,
    meta_renames,
    parse_seconds,
    speaker_of,
    transcript_meta_key,
)
from nlp.schema import Item, Turn

ID_KEYS = ("id", "call_id", "编号")
SPEAKER_KEYS = ("speaker", "role")
TEXT_KEYS = ("text", "content")
_STRUCTURE_KEYS = frozenset({"turns", "meta", *ID_KEYS})

ReaderOutput = tuple[list[tuple[int, Item]], list[RowProblem], dict[str, Any]]
# What the readers yield, in file order: (row, problem) for each bad row or field, (row, item) for
# each item once every problem of rows up to `row` has been yielded, and (row, None) to say the
# same where a row gave no item — so that problems can be handed on in row order as they come.
Event = tuple[int, Item | RowProblem | None]


def transcript_item(
    call_id: str, file: str, row: int, turns: Sequence[Turn], meta: Mapping[str, Any]
) -> Item | RowProblem:
    """A call as an Item whose text is its customer turns, one per line; a call without any
    customer turn has nothing to analyse and becomes a RowProblem instead."""
    customer = [turn.text for turn in turns if turn.speaker == "customer"]
    if not customer:
        what = "no turns" if not turns else "no customer turn (only the agent speaks)"
        return RowProblem(Location(file, row, "turns"), f"call {call_id!r} has {what}; call skipped")
    return Item(
        id=call_id,
        kind="transcript",
        text="\n".join(customer),
        turns=tuple(turns),
        meta=dict(meta),
        source=f"{file}:{row}",
    )


def _first(record: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, Any]:
    for key in keys:
        if key in record:
            return key, record[key]
    return keys[0], None


def _turn(raw: object, index: int, file: str, row: int, problems: list[RowProblem]) -> Turn | None:
    where = f"turns[{index}]"
    if not isinstance(raw, dict):
        problems.append(RowProblem(Location(file, row, where), "turn is not an object; turn skipped"))
        return None
    speaker_field, label = _first(raw, SPEAKER_KEYS)
    text_field, text = _first(raw, TEXT_KEYS)
    speaker = speaker_of(str(label)) if isinstance(label, str | int) else None
    if speaker is None:
        problems.append(
            RowProblem(Location(file, row, f"{where}.{speaker_field}"), f"unknown speaker {label!r}; turn skipped")
        )
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text.strip():
        problems.append(RowProblem(Location(file, row, f"{where}.{text_field}"), "empty text; turn skipped"))
        return None
    times: dict[str, float | None] = {"start": None, "end": None}
    for key in times:
        if raw.get(key) is None:
            continue
        try:
            times[key] = parse_seconds(raw[key])
        except ValueError as error:
            problems.append(RowProblem(Location(file, row, f"{where}.{key}"), f"{error}; field left out"))
    start, end = times["start"], times["end"]
    if start is not None and end is not None and end < start:
        problems.append(
            RowProblem(Location(file, row, f"{where}.end"), f"end {end} before start {start}; end left out")
        )
        end = None
    return Turn(speaker=speaker, text=text.strip(), start=start, end=end)


def _call_id(record: Mapping[str, Any], default: str, file: str, row: int, problems: list[RowProblem]) -> str:
    key, value = _first(record, ID_KEYS)
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    if value is not None and value != "":
        problems.append(RowProblem(Location(file, row, key), f"unusable id {value!r}; using {default!r}"))
    return default


def transcript_jsonl_events(
    records: Iterable[tuple[int, dict[str, Any]]], file: str, stem: str, columns: Mapping[str, str] | None
) -> Generator[Event, None, dict[str, Any]]:
    """Calls from parsed JSON records, one at a time (see Event). `columns` renames metadata keys
    to canonical names. Returns the report's part: {"rows", "columns"}."""
    renames = meta_renames(columns)
    rows = 0
    for row, record in records:
        rows += 1
        problems: list[RowProblem] = []
        made = _call(row, record, file, stem, renames, problems)
        for problem in problems:
            yield row, problem
        yield row, made
    return {"rows": rows, "columns": dict(columns or {})}


def _call(
    row: int, record: Mapping[str, Any], file: str, stem: str, renames: Mapping[str, str], problems: list[RowProblem]
) -> Item | None:
    call_id = _call_id(record, f"{stem}-{row}", file, row, problems)
    raw_turns = record.get("turns")
    if not isinstance(raw_turns, list):
        what = "missing" if raw_turns is None else f"not a list ({type(raw_turns).__name__})"
        problems.append(RowProblem(Location(file, row, "turns"), f"turns {what}; call skipped"))
        return None
    turns = [turn for i, raw in enumerate(raw_turns) if (turn := _turn(raw, i, file, row, problems))]
    entries: list[tuple[str, str, object]] = []
    raw_meta = record.get("meta")
    if isinstance(raw_meta, dict):
        entries += [(transcript_meta_key(k, renames), f"meta.{k}", v) for k, v in raw_meta.items()]
    elif raw_meta is not None:
        problems.append(RowProblem(Location(file, row, "meta"), "meta is not an object; ignored"))
    # Producers sometimes put segment fields beside "turns" instead of inside "meta"; a
    # whole-call "text" beside them only repeats the turns.
    entries += [
        (transcript_meta_key(k, renames), k, v)
        for k, v in record.items()
        if k not in _STRUCTURE_KEYS and canonical_header(k) != "text"
    ]
    meta, meta_problems = build_meta(entries)
    problems += [RowProblem(Location(file, row, field), message) for field, message in meta_problems]
    made = transcript_item(call_id, file, row, turns, meta)
    if isinstance(made, RowProblem):
        problems.append(made)
        return None
    return made
