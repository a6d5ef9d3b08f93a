"""Deliver one inbox notice by e-mail and through notifier plugins; retried by RQ on failure."""

from __future__ import annotations

from jobs.runtime import with_app


@with_app
def deliver(notice_id: int) -> str:
    """Send the notice outside the portal; a failing or hanging notifier raises (RQ retries),
    and the case it is about has long been committed."""
    from portal.services import delivery

    return delivery.deliver(notice_id)
