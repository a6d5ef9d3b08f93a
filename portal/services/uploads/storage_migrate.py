"""Moving an installation's evidence from the local folder to object storage, every hash checked.

For each evidence row (in id order) and each of its files (the file, then its thumbnail):

- an object already in the store whose bytes hash to what is expected counts as done (this
  is how a second run, or a run after a crash, resumes: nothing is trusted unread);
- otherwise the local copy is read, checked against the SHA-256 the database recorded,
  written to the store, read back and checked again;
- a file whose local copy does not match the database, is missing, or does not read back
  the same from the store is a ``Problem``: it is reported, and nothing is deleted. The
  local folder is never changed; remove it only after a run that reports no problem.

A thumbnail's hash is not recorded in the database: its local copy is the reference, and a
thumbnail already in the store with no local copy left counts as done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from portal.extensions import db
from portal.models import Evidence, RefundCase
from portal.services.uploads.storage import BadName, EvidenceStore, NotStored, checked_name
from portal.services.uploads.storage_local import LocalStore


@dataclass(frozen=True)
class Problem:
    """One file that was not moved, or not verified, and why."""

    evidence_id: int
    case_no: str
    name: str
    what: str  # one of PROBLEMS
    detail: str = ""

    def describe(self) -> str:
        text = PROBLEMS[self.what]
        return f"evidence {self.evidence_id} (case {self.case_no}), {self.name}: {text}" + (
            f" ({self.detail})" if self.detail else ""
        )


PROBLEMS = {
    "bad_name": "the database names a file the portal never makes; not touched",
    "local_mismatch": (
        "the local file's SHA-256 differs from the database's; not copied, the local file kept"
    ),
    "missing": "no local file and no good copy in the store",
    "store_mismatch": (
        "the store answered different bytes after the copy; the local file kept, run again"
    ),
}


@dataclass
class Report:
    """What one run did: files copied, files found already moved, and the problems."""

    copied: int = 0
    already: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def migrate(
    source: LocalStore,
    target: EvidenceStore,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 200,
) -> Report:
    """Copy every evidence file from ``source`` to ``target`` and verify it (see the module)."""
    report = Report()
    total = db.session.scalar(select(db.func.count()).select_from(Evidence)) or 0
    done, last_id = 0, 0
    while True:
        rows = db.session.execute(
            select(Evidence, RefundCase.case_no)
            .join(RefundCase, RefundCase.id == Evidence.case_id)
            .where(Evidence.id > last_id)
            .order_by(Evidence.id)
            .limit(batch)
        ).all()
        if not rows:
            return report
        for row, case_no in rows:
            _move(source, target, row, case_no, report)
            last_id = row.id
            done += 1
            if progress:
                progress(done, total)
        db.session.expunge_all()


def _move(
    source: LocalStore, target: EvidenceStore, row: Evidence, case_no: str, report: Report
) -> None:
    files: list[tuple[str, str, str | None]] = [(row.stored_name, row.content_type, row.sha256)]
    if row.thumb_name:
        files.append((row.thumb_name, "image/jpeg", None))
    for name, content_type, recorded in files:
        problem = _move_one(source, target, name, content_type, recorded)
        if problem is None:
            report.copied += 1
        elif problem == "already":
            report.already += 1
        else:
            what, detail = problem.split(":", 1) if ":" in problem else (problem, "")
            report.problems.append(Problem(row.id, case_no, name, what, detail))


def _move_one(
    source: LocalStore, target: EvidenceStore, name: str, content_type: str, recorded: str | None
) -> str | None:
    """None when copied and verified, "already", or a problem code (``what:detail``)."""
    try:
        checked_name(name)
    except BadName:
        return "bad_name"
    local = _read(source, name)
    local_hash = _sha(local) if local is not None else None
    if recorded and local_hash and local_hash != recorded:
        return f"local_mismatch:local {local_hash}, database {recorded}"
    expected = recorded or local_hash
    stored = _read(target, name)
    if stored is not None and (expected is None or _sha(stored) == expected):
        return "already"
    if local is None:
        return "missing"
    target.put(name, local, content_type)
    again = _read(target, name)
    if again is None or _sha(again) != expected:
        found = _sha(again) if again is not None else "nothing"
        return f"store_mismatch:expected {expected}, read back {found}"
    return None


def _read(store: EvidenceStore, name: str) -> bytes | None:
    try:
        return store.open(name).read_all()
    except NotStored:
        return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
