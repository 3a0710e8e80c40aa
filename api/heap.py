"""Handing freed memory back to the system after a batch.

A batch allocates and frees a great many objects (rows, results, theme fits); glibc keeps the freed
pages in its heap, so a long-running service's resident memory crept up batch after batch although
what was alive stayed flat (bench/README.md, soak.py). `trim` asks glibc to return them (``malloc_trim``); on another C
library it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def trim() -> bool:
    """Return the C heap's free pages to the system; False where the C library cannot."""
    malloc_trim = _malloc_trim()
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True


__all__ = ["trim"]
