"""Whether this node can serve: the database, Redis, the evidence store and the migrations.

The migrations pass when the database is at this release's head, or at a revision this
release does not know (a newer release migrated it first: upgrades migrate, then restart the
nodes one by one, and migrations only add what the release before can ignore); they fail when
the database is behind (at an older revision of this release) or was never migrated.

``/readyz`` (``portal/views/health.py``) asks here. Each check answers True or False within
bounded time: Redis through the portal's bounded client (``REDIS_CONNECT_TIMEOUT`` and
``REDIS_SOCKET_TIMEOUT``), PostgreSQL within ``DATABASE_CONNECT_TIMEOUT`` to connect. Why a
check failed goes to the log only; the prober learns which check failed, never a host, a
version or an error's text.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from portal.extensions import db
from portal.infra.migrations import head_revisions, known_revisions
from portal.infra.queue import redis_connection
from portal.services.uploads import storage

log = logging.getLogger(__name__)

#: the checks, in the order they are reported
CHECKS = ("database", "redis", "storage", "migrations")


def readiness() -> dict[str, bool]:
    """Each check's answer (see ``CHECKS``); ready when all are True."""
    database, migrations = _database()
    return {
        "database": database,
        "redis": _redis(),
        "storage": _storage(),
        "migrations": migrations,
    }


def _database() -> tuple[bool, bool]:
    """(the database answers, its schema is at the migrations' head) on one connection."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                found = conn.execute(text("SELECT version_num FROM alembic_version"))
                applied = set(found.scalars())
            except Exception:  # no alembic_version table: never migrated
                log.warning("readiness: the database has no migration version", exc_info=True)
                return True, False
    except Exception:
        log.warning("readiness: the database does not answer", exc_info=True)
        return False, False
    if applied == head_revisions():
        return True, True
    if applied and not applied & known_revisions():
        # a newer release migrated the database first (docs/deploy.md, upgrades): this node
        # runs the release before it until it is restarted, and keeps serving meanwhile
        log.info("readiness: the database is at %s, ahead of this release", sorted(applied))
        return True, True
    log.warning(
        "readiness: the database is at %s, the migrations' head is %s",
        sorted(applied),
        sorted(head_revisions()),
    )
    return True, False


def _redis() -> bool:
    try:
        return bool(redis_connection().ping())
    except Exception:
        log.warning("readiness: Redis does not answer", exc_info=True)
        return False


def _storage() -> bool:
    """The evidence store answers: a file can be made in the folder, or the bucket answers."""
    try:
        ok = storage.current().check()
    except Exception:  # a store that cannot even be made (its client missing) is not ready
        log.warning("readiness: the evidence store cannot be used", exc_info=True)
        return False
    if not ok:
        log.warning("readiness: the evidence store does not answer or is not writable")
    return ok
