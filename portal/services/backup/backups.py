"""Taking a backup into a folder, and restoring one into an empty installation.

Evidence files are read and written only through ``portal.services.uploads.evidence``
(``read_stored``, ``write_stored``, ``remove_stored``, ``store_is_empty``), so a backup and
a restore work with whichever store holds them.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

from portal.infra import migrations
from portal.services.backup import database
from portal.services.backup.manifest import (
    EVIDENCE,
    MANIFEST,
    BackupRefused,
    FileEntry,
    Manifest,
    safe_name,
    sha256_of,
    verify,
)
from portal.services.uploads import evidence


def take(dest: Path) -> Manifest:
    """Back up the database and the evidence files it names into ``dest`` (a new or empty
    folder). The folder appears only when the backup is complete."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupRefused(f"{dest} exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(f".{dest.name}.partial-{secrets.token_hex(4)}")
    work.mkdir()
    try:
        manifest = _fill(work)
        (work / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        if dest.exists():
            dest.rmdir()
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _fill(work: Path) -> Manifest:
    snapshot = database.dump(work)
    store = work / EVIDENCE
    store.mkdir()
    files: list[FileEntry] = []
    problems: list[str] = []
    for stored_name, thumb_name, recorded in snapshot.evidence:
        for name, expected in ((stored_name, recorded), (thumb_name, None)):
            if not name:
                continue
            if not safe_name(name):
                problems.append(f"not backed up (a stored name the portal does not make): {name!r}")
                continue
            try:
                data = evidence.read_stored(name)
            except FileNotFoundError:
                problems.append(f"missing from the evidence store: {name}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if expected and digest != expected:
                problems.append(f"{name}: its SHA-256 differs from the one recorded at upload")
            (store / name).write_bytes(data)
            files.append(FileEntry(name, len(data), digest))
    size, digest = sha256_of(work / snapshot.file_name)
    return Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        database_kind=snapshot.kind,
        database=FileEntry(snapshot.file_name, size, digest),
        revisions=snapshot.revisions,
        files=tuple(files),
        counts=snapshot.counts,
        problems=tuple(problems),
    )


def restore(src: Path) -> Manifest:
    """Restore the backup in ``src`` into the configured database and evidence store, both
    empty. Every hash is checked before anything is written; if any step fails, the files
    written so far are removed and the database is left empty (BackupRefused says why)."""
    manifest = verify(src)
    here = database.kind()
    if manifest.database_kind != here:
        raise BackupRefused(
            f"the backup holds a {manifest.database_kind} database; this installation is"
            f" configured for {here}"
        )
    unknown = set(manifest.revisions) - migrations.known_revisions()
    if unknown:
        raise BackupRefused(
            f"the backup's database is at migration {', '.join(sorted(unknown))}, which this"
            " version of the portal does not know: restore it with the version that made it"
        )
    if not database.target_is_empty():
        raise BackupRefused("the configured database is not empty: restore only into an empty one")
    if not evidence.store_is_empty():
        raise BackupRefused("the evidence store is not empty: restore only into an empty one")
    written: list[str] = []
    try:
        for entry in manifest.files:
            data = (src / EVIDENCE / entry.name).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise BackupRefused(f"evidence file {entry.name} changed while being restored")
            evidence.write_stored(entry.name, data)
            written.append(entry.name)
            if hashlib.sha256(evidence.read_stored(entry.name)).hexdigest() != entry.sha256:
                raise BackupRefused(f"evidence file {entry.name} reads back differently")
        database.restore(src / manifest.database.name, manifest.database.sha256)
    except BaseException:
        for name in written:
            evidence.remove_stored(name)
        raise
    return manifest
