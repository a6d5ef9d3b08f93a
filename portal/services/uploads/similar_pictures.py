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


def _candidates(case_id: int, mine: list[str]) -> list[tuple[str | None, str]]:
    """(hash, case number) of other cases' pictures sharing a band (or one within RADIUS
    bits of it) with one of ``mine``: one statement on the band indexes."""
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
    return [(phash, case_no) for phash, case_no in rows]


def near_on_other_cases(case: RefundCase) -> list[Likeness]:
    """Other cases holding a picture near one of ``case``'s (its evidence, those just attached
    included, and none identical to one), by case number, with the fewest differing bits
    found on each."""
    mine = [ev.phash for ev in case.evidence if picture_likeness.is_hash(ev.phash)]
    if not mine:
        return []
    best: dict[str, int] = {}
    for phash, case_no in _candidates(case.id, mine):
        d = picture_likeness.nearest(phash, mine)
        best[case_no] = min(d, best.get(case_no, d))
    # a case that also holds the identical picture is the same-evidence signal's, not this one's
    return [
        Likeness(no, bits) for no, bits in sorted(best.items()) if picture_likeness.is_near(bits)
    ]


def near_by_file(case: RefundCase) -> dict[int, list[str]]:
    """For each picture of ``case`` (its loaded evidence), the other cases holding an altered
    copy of it (near, not identical), by case number: the reviewer's evidence list."""
    mine = {ev.id: ev.phash for ev in case.evidence if picture_likeness.is_hash(ev.phash)}
    if not mine:
        return {}
    found: dict[int, set[str]] = {}
    for phash, case_no in _candidates(case.id, list(mine.values())):
        for evidence_id, own in mine.items():
            if picture_likeness.is_near(picture_likeness.nearest(phash, [own])):
                found.setdefault(evidence_id, set()).add(case_no)
    return {evidence_id: sorted(numbers) for evidence_id, numbers in found.items()}
