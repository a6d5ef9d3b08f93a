"""Deliver one inbox notice by e-mail and through notifier plugins; retried by RQ on failure."""

from __future__ import annotations

from sqlalchemy import select

from jobs.runtime import with_app
from portal.extensions import db
from portal.models import Notice
from portal.services.messaging import delivery


@with_app
def deliver(notice_id: int) -> str:
    """Send the notice outside the portal; a failing or hanging notifier raises (RQ retries),
    and the case it is about has long been committed."""
    return delivery.deliver(notice_id)


@with_app
def deliver_many(notice_ids: list[int]) -> int:
    """Deliver the notices one transaction wrote; raise (so RQ retries) if any failed.

    Retrying is safe: notices already delivered are skipped.
    """
    failed = []
    for notice_id in notice_ids:
        try:
            delivery.deliver(notice_id)
        except delivery.DeliveryFailed as exc:
            failed.append(f"{notice_id}: {exc}")
    if failed:
        raise delivery.DeliveryFailed("; ".join(failed))
    return len(notice_ids)


@with_app
def deliver_pending(limit: int = 1000) -> int:
    """Deliver notices written in bulk (or whose own job was lost); returns how many were sent."""
    ids = db.session.scalars(
        select(Notice.id).where(Notice.delivered_at.is_(None), Notice.attempts == 0).limit(limit)
    ).all()
    sent = 0
    for notice_id in ids:
        try:
            delivery.deliver(notice_id)
            sent += 1
        except delivery.DeliveryFailed:
            pass  # recorded on the notice; its own retries or the next sweep try again
    return sent
