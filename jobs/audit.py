"""The daily seal of the audit trail, as a job: safe to run twice (a sealed day stays as it
is), enqueued by the periodic sweep once a day has ended and is not yet sealed."""

from __future__ import annotations

import logging

from jobs.runtime import with_app
from portal.infra.queue import enqueue_once, release_once
from portal.services import context
from portal.services.audit import keys, seals

log = logging.getLogger(__name__)


@with_app
def seal_day(day: str) -> int:
    """Seal ``day`` (YYYY-MM-DD, Beijing) if not sealed yet; returns its seal number."""
    release_once(f"audit-seal-{day}")
    return seals.seal_day(day).seal.seal_no


def enqueue_due_seal() -> int:
    """Enqueue the seal of yesterday (Beijing) unless made already; 1 if enqueued. Without a
    seal key nothing is enqueued (a job that could only fail, every minute): a warning says
    so."""
    day = seals.yesterday(context.now())
    if seals.is_sealed(day):
        return 0
    if not keys.have_key():
        log.warning("the audit trail is not sealed: no AUDIT_SEAL_KEY (see docs/audit.md)")
        return 0
    enqueue_once(f"audit-seal-{day}", 3600, "jobs.audit.seal_day", day)
    return 1
