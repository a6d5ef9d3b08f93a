"""Bar charts drawn on the server: the geometry of an inline SVG, from numbers. Pure.

A chart has groups (one per period) of bars (one per series); heights scale to the largest
value; every bar keeps its number, so the page shows the same figures in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 320
HEIGHT = 120
GAP = 4


@dataclass(frozen=True)
class Bar:
    """One bar: its box in the SVG's coordinates, its series and value."""

    x: int
    y: int
    w: int
    h: int
    series: int
    value: int


@dataclass(frozen=True)
class Chart:
    """Bars for ``len(groups)`` periods of ``series`` values each, and the scale's top."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    top: int


def grouped_bars(
    groups: Sequence[Sequence[int]], width: int = WIDTH, height: int = HEIGHT
) -> Chart:
    """The bars of grouped series (each group holds one value per series; negatives as 0)."""
    if not groups:
        return Chart(width, height, (), 0)
    n_series = max(len(g) for g in groups)
    top = max((max(0, v) for g in groups for v in g), default=0)
    slot = width // len(groups)
    bar_w = max(1, (slot - GAP) // max(1, n_series))
    bars = []
    for i, group in enumerate(groups):
        for s, value in enumerate(group):
            value = max(0, value)
            h = round(value * height / top) if top else 0
            bars.append(Bar(i * slot + s * bar_w, height - h, bar_w, h, s, value))
    return Chart(width, height, tuple(bars), top)


def percentile(values: Sequence[int], pct: int) -> int | None:
    """The ``pct``-th percentile (nearest rank) of ``values``, or None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-pct * len(ordered) // 100))  # ceil(pct/100 * n), at least 1
    return ordered[min(rank, len(ordered)) - 1]
