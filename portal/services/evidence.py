"""Evidence files: accepted by content, stored under random names outside the web root."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app

from portal.extensions import db
from portal.models import Evidence, RefundCase
from portal.services.errors import DomainError
from portal.services.policy_text import N_

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_FILES_PER_CASE = 8
ACCEPTED = "JPEG, PNG, WebP, PDF"

_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
]


@dataclass(frozen=True)
class StoredFile:
    """A validated upload written to the evidence store, not yet attached to a case."""

    stored_name: str
    original_name: str
    content_type: str
    size: int
    sha256: str


def evidence_dir() -> Path:
    """Where evidence files live (outside the static folder)."""
    path = Path(
        current_app.config.get("EVIDENCE_DIR") or Path(current_app.instance_path) / "evidence"
    )
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
    """Validate and write one upload; DomainError (nothing written) if it is refused."""
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise DomainError(
            N_("%(name)s is larger than 8 MB."), rule="too_large", name=_safe(filename)
        )
    if not data:
        raise DomainError(N_("%(name)s is empty."), rule="empty", name=_safe(filename))
    kind = sniff(data[:16])
    if kind is None:
        raise DomainError(
            N_("%(name)s is not an accepted file; accepted: %(accepted)s."),
            rule="file_type",
            name=_safe(filename),
            accepted=ACCEPTED,
        )
    ctype, ext = kind
    stored_name = secrets.token_hex(16) + ext
    target = evidence_dir() / stored_name
    with open(target, "xb") as fh:
        fh.write(data)
    return StoredFile(
        stored_name, _safe(filename), ctype, len(data), hashlib.sha256(data).hexdigest()
    )


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
            uploaded_by=uploaded_by,
        )
        for f in files
    ]
    db.session.add_all(rows)
    return rows


def discard(files: list[StoredFile]) -> None:
    """Remove stored files whose transaction did not commit."""
    for f in files:
        try:
            os.unlink(evidence_dir() / f.stored_name)
        except FileNotFoundError:
            pass


def path_of(evidence: Evidence) -> Path:
    """The file behind an evidence row."""
    return evidence_dir() / evidence.stored_name


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
