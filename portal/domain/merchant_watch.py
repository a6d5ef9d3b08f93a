"""Merchants are watched too: a shop whose refund rate, refusal rate, overturned refusals or
late answers are far above the rest of the platform's is flagged to supervisors. Pure: no
Flask, no database.

Each measure is a share (a part of a base) over a period. A shop is flagged on a measure when
it has at least ``min_base`` in the base (a few cases say nothing), and its share is at least
``factor`` times the share of all other shops together AND at least ``margin_pct`` percentage
points above it (so that 2 % against 1 % is not "far above"). Comparing with the other shops,
not with a platform total that includes the shop, keeps one big shop from hiding itself.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction


class Measure(enum.StrEnum):
    """What a shop is measured on."""

    REFUND_RATE = "refund_rate"  # cases refunded per paid order
    REFUSAL_RATE = "refusal_rate"  # cases the merchant refused (or offered less) per case
    OVERTURNED = "overturned_refusals"  # refused cases that still ended refunded, per refusal
    LATE_ANSWERS = "late_answers"  # cases the merchant let its answer window pass, per case


@dataclass(frozen=True)
class Threshold:
    """When a shop's share of a measure is far above the others'."""

    min_base: int
    factor: int
    margin_pct: int


#: the thresholds (docs/risk.md explains each)
THRESHOLDS: dict[Measure, Threshold] = {
    Measure.REFUND_RATE: Threshold(min_base=20, factor=2, margin_pct=5),
    Measure.REFUSAL_RATE: Threshold(min_base=10, factor=2, margin_pct=15),
    Measure.OVERTURNED: Threshold(min_base=5, factor=2, margin_pct=20),
    Measure.LATE_ANSWERS: Threshold(min_base=10, factor=2, margin_pct=15),
}


@dataclass(frozen=True)
class ShopCounts:
    """One shop's counts over the period."""

    merchant_id: int
    name: str
    orders: int = 0  # paid in the period
    filed: int = 0  # cases filed in the period
    refunded: int = 0  # of those, refunded (approved, refunding or refunded)
    refused: int = 0  # of those, refused by the merchant (or met with a lower offer)
    overturned: int = 0  # of the refused, refunded all the same
    late: int = 0  # of those, the merchant's answer window passed without an answer

    def share(self, measure: Measure) -> tuple[int, int]:
        """(part, base) of a measure."""
        return {
            Measure.REFUND_RATE: (self.refunded, self.orders),
            Measure.REFUSAL_RATE: (self.refused, self.filed),
            Measure.OVERTURNED: (self.overturned, self.refused),
            Measure.LATE_ANSWERS: (self.late, self.filed),
        }[measure]


@dataclass(frozen=True)
class Flag:
    """A measure on which a shop is far above the others."""

    measure: Measure
    part: int
    base: int
    shop_pct: int
    others_pct: int


@dataclass(frozen=True)
class FlaggedShop:
    """A shop and the measures it is flagged on."""

    shop: ShopCounts
    flags: tuple[Flag, ...]


def _pct(part: int, base: int) -> Fraction:
    return Fraction(part * 100, base) if base else Fraction(0)


def flag(measure: Measure, shop: tuple[int, int], others: tuple[int, int]) -> Flag | None:
    """The flag for a shop's (part, base) against the other shops' (part, base), or None."""
    rule = THRESHOLDS[measure]
    part, base = shop
    if base < rule.min_base:
        return None
    mine, theirs = _pct(part, base), _pct(*others)
    if mine < theirs * rule.factor or mine < theirs + rule.margin_pct:
        return None
    return Flag(measure, part, base, int(mine), int(theirs))


def review(shops: Iterable[ShopCounts]) -> list[FlaggedShop]:
    """The flagged shops, most flags first (then by name)."""
    rows = list(shops)
    totals = {
        m: (sum(s.share(m)[0] for s in rows), sum(s.share(m)[1] for s in rows)) for m in Measure
    }
    out = []
    for s in rows:
        flags = []
        for m in Measure:
            part, base = s.share(m)
            others = (totals[m][0] - part, totals[m][1] - base)
            found = flag(m, (part, base), others)
            if found is not None:
                flags.append(found)
        if flags:
            out.append(FlaggedShop(s, tuple(flags)))
    return sorted(out, key=lambda f: (-len(f.flags), f.shop.name, f.shop.merchant_id))


def platform_pct(shops: Iterable[ShopCounts]) -> dict[Measure, int | None]:
    """The whole platform's share of each measure, in whole percent (None: no base)."""
    rows = list(shops)
    out: dict[Measure, int | None] = {}
    for m in Measure:
        part, base = sum(s.share(m)[0] for s in rows), sum(s.share(m)[1] for s in rows)
        out[m] = int(_pct(part, base)) if base else None
    return out
