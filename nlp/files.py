"""Files written atomically and files hashed: the one home of both for every layer.

An atomic file is written beside its target, flushed to disk and renamed over it, so a failed or
interrupted run never leaves a half-written output or state file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


@contextmanager
def atomic_writer(
    path: Path, encoding: str = "utf-8", newline: str | None = None, *, mode: int | None = None
) -> Iterator[TextIO]:
    """A text handle whose content replaces `path` only when the block ends without an error.

    mkstemp makes the file private (0o600); `mode` (e.g. 0o644) sets the permissions the file gets
    instead, for a file another user reads (a service reading the CLI's model registry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline=newline) as out:
            if mode is not None:
                os.fchmod(out.fileno(), mode)
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_lines_atomic(path: Path, lines: Iterable[str], *, mode: int | None = None) -> Path:
    with atomic_writer(path, mode=mode) as out:
        out.writelines(lines)
    return path


def write_text_atomic(path: Path, text: str, *, mode: int | None = None) -> Path:
    return write_lines_atomic(path, [text], mode=mode)


def write_json_atomic(path: Path, value: Any, *, indent: int = 1, mode: int | None = None) -> Path:
    """`value` as UTF-8 JSON (Chinese kept readable) with a final newline, written atomically."""
    return write_text_atomic(path, json.dumps(value, ensure_ascii=False, indent=indent) + "\n", mode=mode)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes, read in chunks (model files are tens of megabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(chunk):
            digest.update(block)
    return digest.hexdigest()
