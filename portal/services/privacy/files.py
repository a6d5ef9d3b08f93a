"""An evidence file as an export lists it (the buyer's export and the case file alike): the
original written into the ZIP with its SHA-256, or, when the file was erased or is gone, an
entry that says so instead of an error."""

from __future__ import annotations

import hashlib
import zipfile
from typing import Any

from portal.domain import audit_chain
from portal.models import Evidence
from portal.services.uploads import evidence, storage


def evidence_entry(row: Evidence, out: zipfile.ZipFile) -> dict[str, Any]:
    """One evidence row for an export: its file written into ``out`` when it is there; an
    erased or missing file says so (shared with the case file)."""
    entry: dict[str, Any] = {
        "id": row.id,
        "original_name": row.original_name,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "uploaded_by": row.uploaded_by,
        "created_at": _time(row.created_at),
        "erased": row.erased_at is not None,
        "erased_at": _time(row.erased_at),
    }
    if row.erased_at is not None:
        return entry | {"file": None, "missing": True}
    try:
        data = evidence.read_bytes(row)
    except (OSError, storage.NotStored):
        return entry | {"file": None, "missing": True}
    name = f"evidence/{row.id}-{row.stored_name}"
    out.writestr(name, data)
    return entry | {
        "file": name,
        "missing": False,
        "sha256_matches": hashlib.sha256(data).hexdigest() == row.sha256,
    }


def _time(value: Any) -> str | None:
    return audit_chain.canonical_time(value) if value is not None else None
