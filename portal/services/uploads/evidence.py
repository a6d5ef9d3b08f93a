"""Evidence files: accepted by content, cleaned, stored under random names outside the web root.

They are kept in the configured store (``storage``: a local folder or object storage).

A request's files are checked together before any of them is decoded: how many, how many
bytes each, and how many pixels in all (read from each image's header). Only then are
images decoded within limits and re-encoded from their pixels (``evidence_images``) and
PDFs parsed and refused if they carry anything active (``evidence_pdf``), so the worst
request the limits allow has a bounded cost. Both are imported with the first file of
their kind: Pillow and pypdf are no part of serving pages. What is stored is what a
reviewer sees: the cleaned file, its thumbnail, its SHA-256 and, for images, a perceptual
hash to find the same picture on other cases.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import inspect as sa_inspect

from portal.domain import picture_likeness
from portal.extensions import db
from portal.models import Evidence, RefundCase
from portal.services.errors import DomainError
from portal.services.policy_text import N_
from portal.services.uploads import storage

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 16_000_000  # one image: a 16-megapixel photo; no decompression bombs
MAX_REQUEST_PIXELS = 16_000_000  # all images of one request together (5 phone screenshots)
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
        "too_many_files",
        "pixel_budget",
        "storage_unavailable",
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


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None."""
    for magic, offset, ctype, ext in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return ctype, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


@dataclass(frozen=True)
class Incoming:
    """An upload read and checked by its header only: nothing decoded yet."""

    name: str
    data: bytes
    content_type: str
    ext: str
    pixels: int  # width x height from an image's header (0 for a PDF)


def store(stream: BinaryIO, filename: str) -> StoredFile:
    """Validate, clean and write one upload; DomainError (nothing written) if it is refused."""
    incoming = read(stream, filename)
    check_budget([incoming])
    return keep(incoming)


def read(stream: BinaryIO, filename: str) -> Incoming:
    """Read one upload and check it by its name, size, first bytes and header (no decoding)."""
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
    pixels = 0
    if ctype != "application/pdf":
        # heavy: Pillow loads with the first image a worker receives
        from portal.services.uploads import evidence_images

        width, height = evidence_images.measure(data, name)
        pixels = width * height
    return Incoming(name, data, ctype, ext, pixels)


def check_budget(files: list[Incoming]) -> None:
    """DomainError if the images of one request hold more pixels in all than the budget."""
    total = sum(f.pixels for f in files)
    if total > MAX_REQUEST_PIXELS:
        raise DomainError(
            N_(
                "Together these images have %(mp)s megapixels; at most %(max)s can be sent at"
                " once. Nothing was saved. Send fewer images, or screenshots instead of photos."
            ),
            rule="pixel_budget",
            mp=f"{total / 1_000_000:.1f}",
            max=str(MAX_REQUEST_PIXELS // 1_000_000),
        )


def keep(incoming: Incoming) -> StoredFile:
    """Clean (decode and re-encode an image, inspect a PDF) and write one checked upload."""
    data, ctype, ext, name = incoming.data, incoming.content_type, incoming.ext, incoming.name
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
    store = storage.current()
    store.put(stored_name, data, ctype)
    if thumb and thumb_name:
        try:
            store.put(thumb_name, thumb, "image/jpeg")
        except BaseException:
            _forget(store, stored_name)
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


def _forget(store: storage.EvidenceStore, name: str) -> None:
    """Remove a file written for an upload that failed; a store that is down keeps it
    (an object no row names: never served, and reported by ``storage migrate``)."""
    try:
        store.delete(name)
    except storage.StorageUnavailable:
        log.warning("evidence: %s could not be removed after a failed upload", name)


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
            **_bands(f.phash),
        )
        for f in files
    ]
    db.session.add_all(rows)
    if case.id and "evidence" not in sa_inspect(case).unloaded:
        case.evidence.extend(rows)  # the loaded list counted above stays the case's files
    return rows


def _bands(phash: str | None) -> dict[str, str | None]:
    """The indexed bands of a perceptual hash, as Evidence's columns."""
    return {f"phash_b{i}": band for i, band in enumerate(picture_likeness.bands(phash))}


def discard(files: list[StoredFile]) -> None:
    """Remove stored files whose transaction did not commit."""
    store = storage.current()
    for f in files:
        for name in (f.stored_name, f.thumb_name):
            if name:
                _forget(store, name)


def find(evidence_id: int) -> Evidence | None:
    """The evidence row with this id, or None."""
    return db.session.get(Evidence, evidence_id)


def read_bytes(evidence: Evidence) -> bytes:
    """The file behind an evidence row (``storage.NotStored`` if the store lost it)."""
    return storage.current().open(evidence.stored_name).read_all()


def read_stored(name: str) -> bytes:
    """The bytes of a stored file (an upload or a thumbnail) by its stored name;
    FileNotFoundError if the store has no such file."""
    try:
        return storage.current().open(name).read_all()
    except storage.NotStored:
        raise FileNotFoundError(name) from None


def write_stored(name: str, data: bytes) -> None:
    """Store ``data`` under ``name``; FileExistsError if the name is taken (never overwrites)."""
    store = storage.current()
    if store.size(name) is not None:
        raise FileExistsError(name)
    store.put(name, data, mimetypes.guess_type(name)[0] or "application/octet-stream")


def remove_stored(name: str) -> None:
    """Remove a stored file by its stored name (nothing if it is not there)."""
    storage.current().delete(name)


def store_is_empty() -> bool:
    """Whether the store holds no files (a restore goes only into an empty store)."""
    return storage.current().is_empty()


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


def room_left(case: RefundCase) -> int:
    """How many more evidence files the case can take."""
    return max(0, MAX_FILES_PER_CASE - len(case.evidence))


@contextmanager
def stored_uploads(
    uploads: Iterable[Any], room: int = MAX_FILES_PER_CASE
) -> Iterator[list[StoredFile]]:
    """Store every non-empty upload; if anything inside the block fails, remove them all.

    The request's files are counted, read and measured by their headers first, and refused
    together (nothing decoded, nothing written) if they break a limit; ``room`` is how many
    files the case can still take.
    """
    chosen = [u for u in uploads if u and u.filename]
    if len(chosen) > room:
        raise DomainError(
            N_(
                "%(n)s files were sent; at most %(max)s more can be added to this case."
                " Nothing was saved. Choose fewer files."
            ),
            rule="too_many_files",
            n=str(len(chosen)),
            max=str(room),
        )
    incoming = [read(upload.stream, upload.filename) for upload in chosen]
    check_budget(incoming)
    stored: list[StoredFile] = []
    try:
        for item in incoming:
            stored.append(keep(item))
        yield stored
    except BaseException:
        discard(stored)
        raise
