"""When two evidence pictures count as the same picture altered: perceptual hashes compared by
Hamming distance, and the bands that let a database find the near ones on an index.

A picture's pHash is 64 bits (16 hex digits), 32 of them set (each bit says whether a
frequency is above the median), so two hashes always differ in an even number of bits.
Re-saving or resizing flips none or two; cropping a few percent off the sides flips a few
more; a different picture differs in about half of them (docs/risk.md has the figures).
Two pictures whose hashes differ in at most ``NEAR_BITS`` bits (but not none: that is the
same picture) are taken as one picture altered.

Finding them without comparing every stored hash: the hash is cut into ``BANDS`` bands of 16
bits, each stored in its own indexed column. If two hashes differ in at most
``BANDS * (RADIUS + 1) - 1`` bits, at least one band differs in at most ``RADIUS`` bits
(pigeonhole). So the candidates are the pictures one of whose bands equals one of ours or a
value within ``RADIUS`` bits of it (137 values a band, all on an index); their full hashes
are then compared here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeGuard

HASH_BITS = 64
BANDS = 4
BAND_BITS = HASH_BITS // BANDS
BAND_DIGITS = BAND_BITS // 4
#: a near picture has a band within this many bits of one of ours
RADIUS = 2
#: the largest distance (differing bits of 64) at which two pictures count as one altered
NEAR_BITS = 10
assert NEAR_BITS <= BANDS * (RADIUS + 1) - 1  # the bands find every pair within NEAR_BITS


def is_hash(value: str | None) -> TypeGuard[str]:
    """Whether ``value`` is a 64-bit hash as stored (16 lower-case hex digits)."""
    return (
        isinstance(value, str)
        and len(value) == HASH_BITS // 4
        and all(c in "0123456789abcdef" for c in value)
    )


def distance(a: str, b: str) -> int:
    """The number of bits in which two stored hashes differ (0..64)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def bands(phash: str | None) -> tuple[str | None, ...]:
    """The ``BANDS`` bands of a stored hash as hex text (all None for no hash or a bad one)."""
    if phash is None or not is_hash(phash):
        return (None,) * BANDS
    return tuple(phash[i * BAND_DIGITS : (i + 1) * BAND_DIGITS] for i in range(BANDS))


def neighbours(band: str) -> list[str]:
    """A band's value and every value within ``RADIUS`` bits of it, as hex text."""
    value = int(band, 16)
    found = {value}
    for _ in range(RADIUS):
        found |= {v ^ (1 << bit) for v in found for bit in range(BAND_BITS)}
    return sorted(f"{v:0{BAND_DIGITS}x}" for v in found)


def band_candidates(hashes: Iterable[str | None]) -> list[set[str]]:
    """For each band position, the band values a near picture of one of ``hashes`` may have."""
    wanted: list[set[str]] = [set() for _ in range(BANDS)]
    for h in hashes:
        for i, band in enumerate(bands(h)):
            if band is not None:
                wanted[i].update(neighbours(band))
    return wanted


def nearest(phash: str | None, mine: Iterable[str | None]) -> int:
    """The smallest distance from ``phash`` to any of ``mine`` (HASH_BITS + 1 for none, or
    when ``phash`` is not a hash)."""
    if not is_hash(phash):
        return HASH_BITS + 1
    return min((distance(phash, m) for m in mine if is_hash(m)), default=HASH_BITS + 1)


def is_near(d: int) -> bool:
    """Whether a distance counts as the same picture altered (but not the identical hash)."""
    return 0 < d <= NEAR_BITS
