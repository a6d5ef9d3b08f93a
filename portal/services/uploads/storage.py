"""Where evidence files are kept: one small interface, a local folder or S3-compatible storage.

``EVIDENCE_STORAGE`` chooses: ``"local"`` (the default: ``EVIDENCE_DIR``, as before) or
``"s3"`` (``EVIDENCE_S3_*``; the ``s3`` extra installs its client, loaded only then). Both
take the names the portal makes for files (a random token and an extension, see
``NAME_PATTERN``) and refuse any other name before touching a file or the network, so a name
read from a tampered row cannot reach another folder, bucket or key.

A store never half-writes: the local folder writes to a temporary name and renames it into
place, and an S3 PUT is atomic. When the object store does not answer, every operation
raises ``StorageUnavailable`` (a 503 with a message for the user; the upload is refused and
nothing of it is kept). Reads of a file the store does not hold raise ``NotStored``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import quote

from portal.services import context
from portal.services.errors import DomainError
from portal.services.policy_text import N_

#: the only names a store accepts: what ``evidence.keep`` makes (token + extension)
NAME_PATTERN = re.compile(r"[0-9a-f]{32}(?:\.thumb\.jpg|\.jpg|\.png|\.webp|\.pdf)")
#: bytes per piece when a file is streamed to a reader
CHUNK_BYTES = 64 * 1024
KINDS = ("local", "s3")


class StorageUnavailable(DomainError):
    """The file store did not answer (or refused our credentials): nothing was done."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__(
            N_(
                "The evidence file store is not answering, so nothing was saved."
                " Try again in a few minutes."
            ),
            rule="storage_unavailable",
        )


class NotStored(LookupError):
    """The store holds no file under this name."""


class BadName(ValueError):
    """A name the portal never makes (folders, ``..``, another extension): refused."""


@dataclass(frozen=True)
class Opened:
    """A stored file being read: its size, its bytes in pieces, and how to let it go."""

    size: int
    chunks: Iterator[bytes]
    release: Callable[[], None]

    def read_all(self) -> bytes:
        """All of it (evidence files are at most a few MB), released afterwards."""
        try:
            return b"".join(self.chunks)
        finally:
            self.release()


class EvidenceStore(Protocol):
    """What the portal asks of a store. Names are checked with ``checked_name`` first."""

    kind: str

    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``name`` whole, or raise and leave nothing under it."""

    def open(self, name: str) -> Opened:
        """The stored file (``NotStored`` if there is none)."""

    def size(self, name: str) -> int | None:
        """The stored file's size in bytes, or None if there is none."""

    def delete(self, name: str) -> None:
        """Remove the file; nothing happens if there is none."""

    def is_empty(self) -> bool:
        """Whether the store holds no file at all (a restore goes only into an empty one)."""

    def check(self) -> bool:
        """Whether the store can be written to now (for ``/readyz``); never raises."""

    def signed_url(
        self, name: str, expires: timedelta, download_name: str, content_type: str, inline: bool
    ) -> str | None:
        """A short-lived URL that fetches this one file, or None if the store has none."""


def checked_name(name: str) -> str:
    """``name`` if it is one the portal makes, else ``BadName``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise BadName(f"not an evidence file name: {name!r}")
    return name


def current() -> EvidenceStore:
    """The store the settings name: the S3 client is made once per app, a folder each time."""
    kind = str(context.setting("EVIDENCE_STORAGE", None) or "local")
    if kind == "s3":
        return context.cached("portal.evidence_store.s3", _s3)
    if kind != "local":
        raise ValueError(f"EVIDENCE_STORAGE must be one of {', '.join(KINDS)}, not {kind!r}")
    # cycle: storage_local builds on this module's names
    from portal.services.uploads.storage_local import LocalStore

    return LocalStore.from_settings()


def _s3() -> EvidenceStore:
    # heavy: the S3 client loads only where object storage is configured
    from portal.services.uploads.storage_s3 import S3Store

    return S3Store.from_settings()


def content_disposition(filename: str, inline: bool) -> str:
    """``inline``/``attachment`` with an ASCII fallback name and the UTF-8 one (RFC 6266)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join(c for c in ascii_name if c.isprintable() and c not in '"\\') or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
