"""The backup's manifest: what it holds, each file's size and SHA-256, and the checks a
restore makes before it writes anything."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "refund-portal-backup"
VERSION = 1
MANIFEST = "manifest.json"
EVIDENCE = "evidence"
DATABASE_KINDS = ("sqlite", "postgresql")
#: a stored file's name as the portal makes them (random hex, an extension): nothing else
#: is written by a restore, so a manifest cannot name a path outside the store
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
MAX_NAME = 80  # the stored-name column's length
_HEX64 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1024 * 1024


class BackupRefused(Exception):
    """A backup that cannot be taken or restored, with what is wrong (for the operator)."""


@dataclass(frozen=True)
class FileEntry:
    """One file of the backup: its name, size and SHA-256."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a backup holds."""

    created_at: str
    database_kind: str
    database: FileEntry
    revisions: tuple[str, ...]
    files: tuple[FileEntry, ...]
    counts: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": self.created_at,
            "database": {"kind": self.database_kind, **asdict(self.database)},
            "revisions": list(self.revisions),
            "counts": self.counts,
            "problems": list(self.problems),
            "evidence": [asdict(f) for f in self.files],
        }
        return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def sha256_of(path: Path) -> tuple[int, str]:
    """A file's size and SHA-256, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def safe_name(name: object) -> bool:
    """Whether ``name`` is a plain stored-file name (no folders, no dots in front)."""
    return isinstance(name, str) and len(name) <= MAX_NAME and SAFE_NAME.fullmatch(name) is not None


def _entry(raw: Any, where: str) -> FileEntry:
    if not isinstance(raw, dict):
        raise BackupRefused(f"manifest: {where} is not an object")
    name, size, digest = raw.get("name"), raw.get("size"), raw.get("sha256")
    if not safe_name(name):
        raise BackupRefused(f"manifest: {where} has a file name that is not allowed: {name!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BackupRefused(f"manifest: {where} ({name}) has no valid size")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise BackupRefused(f"manifest: {where} ({name}) has no valid sha256")
    return FileEntry(str(name), size, digest)


def parse(text: str) -> Manifest:
    """The manifest in ``text``; BackupRefused naming the first thing wrong with it."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BackupRefused(f"manifest: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupRefused("manifest: not a refund-portal backup manifest")
    if doc.get("version") != VERSION:
        raise BackupRefused(
            f"manifest: format version {doc.get('version')!r}; this portal reads {VERSION}"
        )
    database = doc.get("database")
    if not isinstance(database, dict) or database.get("kind") not in DATABASE_KINDS:
        raise BackupRefused("manifest: the database entry is missing or of an unknown kind")
    revisions = doc.get("revisions")
    if not isinstance(revisions, list) or not all(isinstance(r, str) for r in revisions):
        raise BackupRefused("manifest: the migration revisions are missing")
    raw_files = doc.get("evidence")
    if not isinstance(raw_files, list):
        raise BackupRefused("manifest: the evidence list is missing")
    files = tuple(_entry(raw, f"evidence[{i}]") for i, raw in enumerate(raw_files))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise BackupRefused("manifest: an evidence file is listed twice")
    counts = doc.get("counts") or {}
    problems = doc.get("problems") or []
    return Manifest(
        created_at=str(doc.get("created_at", "")),
        database_kind=str(database["kind"]),
        database=_entry(database, "database"),
        revisions=tuple(revisions),
        files=files,
        counts={str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else {},
        problems=tuple(str(p) for p in problems) if isinstance(problems, list) else (),
    )


def _check_file(path: Path, entry: FileEntry, what: str) -> str | None:
    if not path.is_file() or path.is_symlink():
        return f"{what} {entry.name} is missing from the backup"
    size, digest = sha256_of(path)
    if size != entry.size or digest != entry.sha256:
        return f"{what} {entry.name} does not match the manifest (size or SHA-256 differs)"
    return None


def verify(folder: Path) -> Manifest:
    """Read ``folder``'s manifest and check every file against it: each listed file present
    with its size and SHA-256, nothing unlisted beside them. BackupRefused lists what is wrong."""
    if not folder.is_dir():
        raise BackupRefused(f"{folder} is not a backup folder")
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BackupRefused(f"{folder} has no {MANIFEST}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupRefused(f"{folder / MANIFEST} cannot be read: {exc}") from None
    manifest = parse(text)
    problems: list[str] = []
    if found := _check_file(folder / manifest.database.name, manifest.database, "database"):
        problems.append(found)
    expected_top = {MANIFEST, EVIDENCE, manifest.database.name}
    problems += [
        f"unlisted file in the backup: {p.name}"
        for p in folder.iterdir()
        if p.name not in expected_top
    ]
    store = folder / EVIDENCE
    listed = {f.name for f in manifest.files}
    if store.is_dir():
        problems += [
            f"unlisted evidence file in the backup: {p.name}"
            for p in store.iterdir()
            if p.name not in listed
        ]
    elif manifest.files:
        problems.append(f"the backup has no {EVIDENCE} folder")
    for entry in manifest.files:
        if found := _check_file(store / entry.name, entry, "evidence file"):
            problems.append(found)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise BackupRefused(
            f"the backup in {folder} does not match its manifest; nothing was restored:\n"
            f"  {shown}{more}"
        )
    return manifest
