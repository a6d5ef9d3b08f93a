"""The database half of a backup: a consistent copy out, and a restore into an empty database.

SQLite is copied with its online backup API (a consistent copy while the portal runs).
PostgreSQL is dumped by ``pg_dump`` (custom format) in a snapshot exported from a
repeatable-read transaction, in which the evidence rows and counts are read too: the files a
backup holds are exactly the ones its database names. ``pg_restore`` restores in one
transaction, so a failed restore leaves the database as empty as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import URL, make_url

from portal.extensions import db
from portal.services.backup.manifest import BackupRefused, sha256_of

SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
COUNTED = ("refund_cases", "events", "evidence", "payouts", "orders")
_EVIDENCE = "SELECT stored_name, thumb_name, sha256 FROM evidence ORDER BY id"
_REVISIONS = "SELECT version_num FROM alembic_version ORDER BY version_num"


@dataclass(frozen=True)
class Snapshot:
    """What the copied database holds: its kind, file, migration revisions, the evidence
    rows (stored name, thumbnail name, SHA-256) and a few counts."""

    kind: str
    file_name: str
    revisions: tuple[str, ...]
    evidence: tuple[tuple[str, str | None, str], ...]
    counts: dict[str, int]


def _url() -> URL:
    return make_url(db.engine.url)


def kind() -> str:
    """``sqlite`` or ``postgresql``: the configured database's kind."""
    backend = _url().get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupRefused(f"backups cover SQLite and PostgreSQL, not {backend}")
    return backend


def _read(cursor_execute: Any) -> tuple[tuple[str, ...], tuple[Any, ...], dict[str, int]]:
    revisions = tuple(row[0] for row in cursor_execute(_REVISIONS))
    evidence = tuple((row[0], row[1], row[2]) for row in cursor_execute(_EVIDENCE))
    counts = {t: int(cursor_execute(f"SELECT count(*) FROM {t}")[0][0]) for t in COUNTED}  # noqa: S608 - fixed names
    return revisions, evidence, counts


def dump(folder: Path) -> Snapshot:
    """Copy the database into ``folder``; what the copy holds."""
    return _dump_sqlite(folder) if kind() == "sqlite" else _dump_postgresql(folder)


def _sqlite_path() -> Path:
    name = _url().database
    if not name or name == ":memory:":
        raise BackupRefused("an in-memory SQLite database cannot be backed up")
    return Path(name)


def _read_only(path: Path) -> str:
    """A read-only SQLite URI for ``path`` (any character in the path quoted)."""
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _dump_sqlite(folder: Path) -> Snapshot:
    source = _sqlite_path()
    if not source.is_file():
        raise BackupRefused(f"the SQLite database {source} does not exist")
    target = folder / SQLITE_FILE
    src = sqlite3.connect(_read_only(source), uri=True)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=5000")
        src.backup(dst)  # all pages in one step: one consistent read of the source
        # the copy is a plain file (no -wal beside it); the portal sets WAL when it opens it
        dst.execute("PRAGMA journal_mode=DELETE")
        revisions, evidence, counts = _read(lambda sql: dst.execute(sql).fetchall())
    finally:
        dst.close()
        src.close()
    return Snapshot("sqlite", SQLITE_FILE, revisions, evidence, counts)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url``, and the environment carrying its password
    (not on the command line, where other users could read it)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    if not env.get("PGCONNECT_TIMEOUT"):
        env["PGCONNECT_TIMEOUT"] = "10"
    return plain.render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupRefused(f"{argv[0]} is not installed (PostgreSQL's client tools)")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupRefused(f"{what} failed: {done.stderr.strip() or done.returncode}")


def _dump_postgresql(folder: Path) -> Snapshot:
    target = folder / PG_FILE
    dsn, env = _libpq(_url())
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            revisions, evidence, counts = _read(lambda sql: conn.exec_driver_sql(sql).fetchall())
            # pg_dump reads in the same snapshot while this transaction holds it open
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={dsn}",
                ],
                env,
                "pg_dump",
            )
    return Snapshot("postgresql", PG_FILE, revisions, evidence, counts)


def target_is_empty() -> bool:
    """Whether the configured database has no tables yet (a restore goes only there)."""
    if kind() == "sqlite":
        path = _sqlite_path()
        if not path.exists() or path.stat().st_size == 0:
            return True
        with contextlib.closing(sqlite3.connect(_read_only(path), uri=True)) as conn:
            return not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table'").fetchall()
    with db.engine.connect() as conn:
        tables = conn.exec_driver_sql(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).scalar_one()
    return int(tables) == 0


def restore(file: Path, expected_sha256: str) -> None:
    """Restore the verified copy ``file`` into the configured (empty) database."""
    db.session.remove()
    db.engine.dispose()  # no pooled connection holds the database while it is replaced
    if kind() == "sqlite":
        _restore_sqlite(file, expected_sha256)
    else:
        _restore_postgresql(file)
    db.engine.dispose()


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _restore_sqlite(file: Path, expected_sha256: str) -> None:
    target = _sqlite_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(target.with_name(f".{target.name}.restoring-{secrets.token_hex(4)}")) as tmp:
        shutil.copyfile(file, tmp)
        if sha256_of(tmp)[1] != expected_sha256:
            raise BackupRefused("the database copy changed while it was being restored")
        try:
            with contextlib.closing(sqlite3.connect(tmp)) as conn:
                found = conn.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupRefused(f"the database copy is not a readable SQLite file: {exc}") from None
        if not found or found[0] != "ok":
            raise BackupRefused(f"the database copy fails SQLite's integrity check: {found}")
        for leftover in ("-wal", "-shm"):  # of the empty database being replaced
            target.with_name(target.name + leftover).unlink(missing_ok=True)
        os.replace(tmp, target)


def _restore_postgresql(file: Path) -> None:
    dsn, env = _libpq(_url())
    _run(
        [
            "pg_restore",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={dsn}",
            str(file),
        ],
        env,
        "pg_restore",
    )
