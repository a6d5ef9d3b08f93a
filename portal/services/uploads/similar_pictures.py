"""Pictures on other cases that look like a case's own: the same picture re-saved, resized or
mildly cropped (perceptual hashes within ``picture_likeness.NEAR_BITS`` bits).

One statement on the band indexes (``evidence.phash_b0..3``) fetches the candidates, pictures
sharing a band value or one a bit away with one of the case's pictures; their full hashes are
compared here. Never a read of every stored hash: docs/risk.md says why bands rather than a
job comparing every new picture with all the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from portal.domain import picture_likeness
from portal.extensions import db
from portal.models import Evidence, RefundCase

#: candidates read at most (a guard: real pictures share bands with very few others)
MAX_CANDIDATES = 2000


@dataclass(frozen=True)
class Likeness:
    """Another case whose picture is near one of ours: its number and the smallest distance."""

    case_no: str
    bits: int


def near_on_other_cases(case_id: int) -> list[Likeness]:
    """Other cases holding a picture near one of case ``case_id``'s (and none identical to
    one), by case number, with the fewest differing bits found on each."""
    mine = [
        h
        for h in db.session.scalars(
            select(Evidence.phash).where(Evidence.case_id == case_id, Evidence.phash.is_not(None))
        )
        if picture_likeness.is_hash(h)
    ]
    if not mine:
        return []
    columns = (Evidence.phash_b0, Evidence.phash_b1, Evidence.phash_b2, Evidence.phash_b3)
    wanted = picture_likeness.band_candidates(mine)
    rows = db.session.execute(
        select(Evidence.phash, RefundCase.case_no)
        .join(RefundCase, RefundCase.id == Evidence.case_id)
        .where(
            Evidence.case_id != case_id,
            or_(*(col.in_(sorted(values)) for col, values in zip(columns, wanted, strict=True))),
        )
        .limit(MAX_CANDIDATES)
    ).all()
    best: dict[str, int] = {}
    for phash, case_no in rows:
        d = picture_likeness.nearest(phash, mine)
        best[case_no] = min(d, best.get(case_no, d))
    # a case that also holds the identical picture is the same-evidence signal's, not this one's
    return [
        Likeness(no, bits) for no, bits in sorted(best.items()) if picture_likeness.is_near(bits)
    ]
