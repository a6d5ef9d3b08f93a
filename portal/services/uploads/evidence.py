"""Evidence files: accepted by content, cleaned, stored under random names outside the web root.

Images (JPEG, PNG, WebP) are decoded within limits and re-encoded from their pixels
(``evidence_images``); PDFs are parsed and refused if they carry anything active
(``evidence_pdf``). Both are imported with the first file of their kind: Pillow and pypdf
are no part of serving pages. What is stored is what a reviewer sees: the cleaned file, its
thumbnail, its SHA-256 and, for images, a perceptual hash to find the same picture on other
cases.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from portal.extensions import db
from portal.models import Evidence, RefundCase
from portal.services import context
from portal.services.errors import DomainError
from portal.services.policy_text import N_

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels: any phone photo, no decompression bombs
MAX_IMAGE_SIDE = 2560  # longer side kept; screenshots stay legible
MAX_FILES_PER_CASE = 8
ACCEPTED = "JPEG, PNG, WebP, PDF"
# File rules a refused upload can break (the form keeps everything else).
FILE_RULES = frozenset(
    {
        "too_large",
        "empty",
        "file_type",
        "file_name",
        "unreadable",
        "too_many_pixels",
        "pdf_encrypted",
        "pdf_active",
        "too_many",
    }
)

_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
]
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|(^|[/\\])\.\.")


@dataclass(frozen=True)
class StoredFile:
    """A validated upload written to the evidence store, not yet attached to a case."""

    stored_name: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    phash: str | None = None
    thumb_name: str | None = None


def evidence_dir() -> Path:
    """Where evidence files live (outside the static folder)."""
    path = Path(context.setting("EVIDENCE_DIR", None) or context.instance_path() / "evidence")
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None."""
    for magic, offset, ctype, ext in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return ctype, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def store(stream: BinaryIO, filename: str) -> StoredFile:
    """Validate, clean and write one upload; DomainError (nothing written) if it is refused."""
    name = _safe(filename)
    if _BAD_NAME.search(filename or ""):
        raise DomainError(
            N_("%(name)s: a file name may not contain folders or control characters. Rename it."),
            rule="file_name",
            name=name,
        )
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise DomainError(
            N_("%(name)s is larger than 8 MB. Send a smaller screenshot or a shorter PDF."),
            rule="too_large",
            name=name,
        )
    if not data:
        raise DomainError(N_("%(name)s is empty."), rule="empty", name=name)
    kind = sniff(data[:16])
    if kind is None:
        raise DomainError(
            N_("%(name)s is not an accepted file; accepted: %(accepted)s."),
            rule="file_type",
            name=name,
            accepted=ACCEPTED,
        )
    ctype, ext = kind
    phash = thumb = None
    if ctype == "application/pdf":
        # heavy: pypdf loads with the first PDF a worker receives, not with every web worker
        from portal.services.uploads import evidence_pdf

        evidence_pdf.check(data, name)
    else:
        # heavy: Pillow loads with the first image a worker receives
        from portal.services.uploads import evidence_images

        image = evidence_images.clean(data, name)
        data, ctype, ext, phash, thumb = (
            image.data,
            image.content_type,
            image.ext,
            image.phash,
            image.thumbnail,
        )
    token = secrets.token_hex(16)
    stored_name, thumb_name = token + ext, (token + ".thumb.jpg" if thumb else None)
    _write(stored_name, data)
    if thumb and thumb_name:
        try:
            _write(thumb_name, thumb)
        except BaseException:
            os.unlink(evidence_dir() / stored_name)
            raise
    return StoredFile(
        stored_name,
        name,
        ctype,
        len(data),
        hashlib.sha256(data).hexdigest(),
        phash=phash,
        thumb_name=thumb_name,
    )


def _write(stored_name: str, data: bytes) -> None:
    with open(evidence_dir() / stored_name, "xb") as fh:
        fh.write(data)


def attach(case: RefundCase, files: list[StoredFile], uploaded_by: str) -> list[Evidence]:
    """Add stored files to a case (in the caller's transaction)."""
    existing = len(case.evidence) if case.id else 0
    if existing + len(files) > MAX_FILES_PER_CASE:
        raise DomainError(
            N_("A case can have at most %(n)s evidence files."),
            rule="too_many",
            n=str(MAX_FILES_PER_CASE),
        )
    rows = [
        Evidence(
            case_id=case.id,
            stored_name=f.stored_name,
            original_name=f.original_name,
            content_type=f.content_type,
            size=f.size,
            sha256=f.sha256,
            phash=f.phash,
            thumb_name=f.thumb_name,
            uploaded_by=uploaded_by,
        )
        for f in files
    ]
    db.session.add_all(rows)
    return rows


def discard(files: list[StoredFile]) -> None:
    """Remove stored files whose transaction did not commit."""
    for f in files:
        for name in (f.stored_name, f.thumb_name):
            if name:
                try:
                    os.unlink(evidence_dir() / name)
                except FileNotFoundError:
                    pass


def find(evidence_id: int) -> Evidence | None:
    """The evidence row with this id, or None."""
    return db.session.get(Evidence, evidence_id)


def path_of(evidence: Evidence) -> Path:
    """The file behind an evidence row."""
    return evidence_dir() / evidence.stored_name


def thumb_path_of(evidence: Evidence) -> Path | None:
    """The thumbnail behind an evidence row (images only)."""
    return evidence_dir() / evidence.thumb_name if evidence.thumb_name else None


def same_picture_elsewhere(case: RefundCase) -> dict[int, list[str]]:
    """For each image of ``case``, the case numbers of other cases with the same picture.

    Same picture = equal perceptual hash (survives re-saving, resizing, recompression).
    """
    hashes = {ev.phash for ev in case.evidence if ev.phash}
    if not hashes:
        return {}
    rows = db.session.execute(
        db.select(Evidence.phash, RefundCase.case_no)
        .join(RefundCase, RefundCase.id == Evidence.case_id)
        .where(Evidence.phash.in_(hashes), Evidence.case_id != case.id)
        .order_by(RefundCase.case_no)
    ).all()
    elsewhere: dict[str, list[str]] = {}
    for phash, case_no in rows:
        if case_no not in elsewhere.setdefault(phash, []):
            elsewhere[phash].append(case_no)
    return {ev.id: elsewhere[ev.phash] for ev in case.evidence if ev.phash in elsewhere}


def _safe(filename: str) -> str:
    name = os.path.basename((filename or "file").replace("\\", "/"))
    return name[:120] or "file"


@contextmanager
def stored_uploads(uploads: Iterable[Any]) -> Iterator[list[StoredFile]]:
    """Store every non-empty upload; if anything inside the block fails, remove them all."""
    stored: list[StoredFile] = []
    try:
        for upload in uploads:
            if upload and upload.filename:
                stored.append(store(upload.stream, upload.filename))
        yield stored
    except BaseException:
        discard(stored)
        raise
