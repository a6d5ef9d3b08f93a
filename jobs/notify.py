"""Deliver one inbox notice by e-mail and through notifier plugins; retried by RQ on failure."""

from __future__ import annotations

from jobs.runtime import with_app
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
