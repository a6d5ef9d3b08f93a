"""Giving a worker's freed heap back to the system after a large, short-lived allocation.

Argon2 allocates its whole working memory (``ARGON2_MEMORY_COST``, 19 MiB by default) with
``malloc`` for each hash or check. glibc serves the first such block with ``mmap`` and unmaps
it when freed, but then raises its mmap threshold to that size, so every later block comes
from the heap; freed, it stays there (below glibc's raised trim threshold), and each web
worker keeps the whole working memory resident after its first few password checks.
``release_free_heap`` asks glibc to return free heap pages (``malloc_trim``); elsewhere it
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Return the heap's free pages to the system; whether the C library could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
