"""Giving a worker's freed heap back to the system after a large, short-lived allocation.

Argon2 allocates its whole working memory (``ARGON2_MEMORY_COST``, 19 MiB by default) with
``malloc`` for each hash or check. glibc serves the first such block with ``mmap`` and unmaps
it when freed, but then raises its mmap threshold to that size, so every later block comes
from the heap; freed, it stays there (below glibc's raised trim threshold), and each web
worker keeps the whole working memory resident after its first few password checks.
``release_free_heap`` asks glibc to return free heap pages (``malloc_trim``); elsewhere it
does nothing.

Other large, short-lived blocks (compressing the static files at start, big query results)
would raise the threshold the same way. ``pin_mmap_threshold``, called once when a web or
job process starts, fixes glibc's mmap threshold at its default, so every block that large
is mapped on its own and unmapped when freed, whatever came before it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:  # not glibc (musl, macOS): nothing to trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


#: mallopt's parameter number for the mmap threshold (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3
#: glibc's own default threshold; setting it explicitly stops glibc from raising it
MMAP_THRESHOLD = 128 * 1024


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)  # the process's own symbols: the C library it runs on


def pin_mmap_threshold() -> bool:
    """Keep blocks of ``MMAP_THRESHOLD`` or more out of the heap for the process's life;
    whether the C library could be asked (glibc only)."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:  # not glibc (musl, macOS)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_free_heap() -> bool:
    """Return the heap's free pages to the system; whether the C library could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
