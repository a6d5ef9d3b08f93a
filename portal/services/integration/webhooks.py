"""Outbound webhooks: case and payout events for the merchant's shop, signed like API requests.

Deliveries are an outbox: ``note_event`` (called by ``transitions.record``) collects the
events of a transaction; just before it commits, one query finds the merchants' active
endpoints and, only if there are any, writes a delivery row per endpoint and event in the
same transaction; after the commit a job per delivery is enqueued. A transaction without
such events costs nothing; one whose merchant has no endpoint costs that one query.
Sending goes through ``outbound``: https to public addresses only, checked at registration
and again at delivery, pinned to the checked address, no redirects, answers capped.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from portal.extensions import db
from portal.infra import metrics
from portal.infra.queue import enqueue_with_retry
from portal.models import Event, Order, Payout, RefundCase, WebhookDelivery, WebhookEndpoint
from portal.services import context
from portal.services.after_commit import call_after_commit
from portal.services.errors import DomainError, NotFound
from portal.services.integration import outbound, signing
from portal.services.policy_text import N_

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from portal.services.refunds.transitions import EventRecord

_KEY = "portal.webhook_events"
_ORDERS, _ENDPOINTS = Order.__table__, WebhookEndpoint.__table__
#: waits before the next attempt after the n-th failure (RQ retries on the same schedule)
BACKOFF = (10, 30, 60, 300, 900)


class WebhookFailed(Exception):
    """The receiver did not answer 2xx; the job is retried."""


def is_webhook_event(kind: str) -> bool:
    """Events a shop hears about: case transitions and payout changes."""
    return kind == "transition" or kind.startswith("payout_")


def note_event(session: Session, ev: EventRecord) -> None:
    """Remember ``ev`` for the outbox of the current transaction."""
    session.info.setdefault(_KEY, []).append(ev)


def active_endpoints(session: Session, order_ids: set[int]) -> list[tuple[int, int]]:
    """(order id, endpoint id) for each active endpoint of these orders' merchants."""
    rows = session.execute(
        select(_ORDERS.c.id, _ENDPOINTS.c.id)
        .join(_ENDPOINTS, _ENDPOINTS.c.merchant_id == _ORDERS.c.merchant_id)
        .where(_ORDERS.c.id.in_(sorted(order_ids)), _ENDPOINTS.c.active.is_(True))
    )
    return [(order_id, endpoint_id) for order_id, endpoint_id in rows]


@sa_event.listens_for(Session, "before_commit")
def _write_outbox(session: Session) -> None:
    events: list[EventRecord] = session.info.pop(_KEY, [])
    if not events:
        return
    order_ids = {e.order_id for e in events if e.order_id is not None}
    if not order_ids:
        return
    rows = active_endpoints(session, order_ids)
    if not rows:
        return
    session.flush()
    endpoints: dict[int, list[int]] = {}
    for order_id, endpoint_id in rows:
        endpoints.setdefault(order_id, []).append(endpoint_id)
    deliveries = []
    loaded = _load_for_payloads(session, [ev for ev in events if ev.order_id in endpoints])
    for ev in events:
        if ev.order_id not in endpoints:
            continue
        body = payload(session, ev)
        for endpoint_id in endpoints[ev.order_id]:
            delivery = WebhookDelivery(
                endpoint_id=endpoint_id,
                event_id=ev.id,
                event_type=body["type"],
                payload=body,
                created_at=context.now(),
                next_attempt_at=context.now(),
            )
            session.add(delivery)
            deliveries.append(delivery)
    session.flush()
    del loaded
    ids = [d.id for d in deliveries]
    call_after_commit(session, lambda: enqueue(ids))


def _payout_id(ev: Event | EventRecord) -> int | None:
    return ev.payout_id or (ev.data or {}).get("payout_id")


def _load_for_payloads(session: Session, events: list[EventRecord]) -> list[Any]:
    """Load the orders, cases and payouts the events' payloads read that the session does not
    hold yet: one query per table however many events (a sweep's batch). The session holds
    objects weakly, so the caller keeps the returned list while it builds the payloads."""
    wanted: dict[Any, set[int]] = {
        Order: {e.order_id for e in events if e.order_id is not None},
        RefundCase: {e.case_id for e in events if e.case_id is not None},
        Payout: {i for i in map(_payout_id, events) if i is not None},
    }
    loaded: list[Any] = []
    for model, ids in wanted.items():
        missing = [i for i in ids if identity_key(model, i) not in session.identity_map]
        if missing:
            loaded += session.scalars(select(model).where(model.id.in_(missing))).all()
    return loaded


@sa_event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)


def event_type(ev: Event | EventRecord) -> str:
    """``case.<state>`` for a transition, ``payout.<what>`` for a payout event."""
    if ev.kind == "transition":
        return f"case.{ev.to_state}"
    return "payout." + ev.kind.removeprefix("payout_")


def payload(session: Session, ev: Event | EventRecord) -> dict[str, Any]:
    """The JSON body sent for an event."""
    order = session.get(Order, ev.order_id)
    case = session.get(RefundCase, ev.case_id) if ev.case_id else None
    payout_id = _payout_id(ev)
    payout = session.get(Payout, payout_id) if payout_id else None
    data: dict[str, Any] = {
        "order_no": order.order_no if order else None,
        "case_no": case.case_no if case else None,
        "from_state": ev.from_state or None,
        "to_state": ev.to_state or None,
        "reason": ev.reason,
        # what the system said, as a code with parameters (docs/plugins.md, "Outcome notes")
        "note": (ev.data or {}).get("note"),
        "actor": ev.actor_role,
    }
    if case is not None:
        data["case_reason"] = case.reason
        data["amount_requested_fen"] = case.amount_requested_fen
    if payout is not None:
        data["payout"] = {
            "id": payout.id,
            "channel": payout.channel,
            "amount_fen": payout.amount_fen,
            "state": payout.state,
        }
    return {
        "id": f"evt_{ev.id}",
        "type": event_type(ev),
        "created_at": ev.created_at.isoformat(),
        "data": data,
    }


def enqueue(delivery_ids: list[int]) -> None:
    """Queue a delivery job (retried with backoff by RQ) for each delivery."""
    for delivery_id in delivery_ids:
        try:
            enqueue_with_retry("jobs.webhooks.deliver", delivery_id)
        except Exception:
            log.exception("could not enqueue webhook delivery %s", delivery_id)


def deliver(delivery_id: int) -> str:
    """POST one delivery to its endpoint, signed; safe to run twice (a delivered one is left)."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return "gone"
    if delivery.delivered_at is not None:
        return "already delivered"
    endpoint = delivery.endpoint
    if not endpoint.active:
        return "endpoint inactive"

    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    now = context.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "refund-portal-webhooks",
        "X-Portal-Event-Id": delivery.payload.get("id", ""),
        "X-Portal-Event-Type": delivery.event_type,
        "X-Portal-Delivery": str(delivery.id),
        **signing.headers(endpoint.secret, body, int(now.timestamp())),
    }
    status, error = None, ""
    try:
        answer = outbound.post(
            endpoint.url,
            body,
            headers,
            allow_local=allow_local(),
            timeout=float(context.setting("WEBHOOK_TIMEOUT_SECONDS")),
            max_bytes=int(context.setting("WEBHOOK_MAX_ANSWER_BYTES")),
        )
        status = answer.status
        if not 200 <= status < 300:
            error = f"http: {answer.excerpt}"
    except outbound.OutboundError as exc:
        log.warning("webhook delivery %s to endpoint %s: %s", delivery.id, endpoint.id, exc)
        # the merchant sees the kind of failure only: the detail may name internal addresses
        error = exc.code
    delivery.attempts += 1
    delivery.last_status = status
    delivery.last_error = error
    if not error:
        delivery.delivered_at, delivery.next_attempt_at = context.now(), None
        db.session.commit()
        return "delivered"
    wait = BACKOFF[min(delivery.attempts - 1, len(BACKOFF) - 1)]
    delivery.next_attempt_at = context.now() + timedelta(seconds=wait)
    db.session.commit()
    metrics.webhook_failed("http" if status is not None else error)
    raise WebhookFailed(error)


def allow_local() -> bool:
    """Whether receivers may be http and on non-public addresses (development only)."""
    return bool(context.setting("WEBHOOKS_ALLOW_LOCAL", False))


_URL_PROBLEMS = {
    "scheme": N_("Give an https:// address: webhooks are only sent over TLS."),
    "form": N_("This is not a valid web address (no spaces or control characters)."),
    "credentials": N_("Leave the user name and password out of the address."),
    "address": N_("Give a public address: local and private network addresses are refused."),
}


def add_endpoint(merchant_id: int, url: str) -> WebhookEndpoint:
    """Add an endpoint for the merchant, with a fresh signing secret."""
    url = url.strip()
    problem = outbound.url_problem(url, allow_local())
    if problem:
        raise DomainError(_URL_PROBLEMS[problem], rule="url")
    endpoint = WebhookEndpoint(
        merchant_id=merchant_id,
        url=url,
        secret="whsec_" + secrets.token_urlsafe(24),
        active=True,
        created_at=context.now(),
    )
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def set_active(merchant_id: int, endpoint_id: int, active: bool) -> WebhookEndpoint:
    """Pause or resume an endpoint."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.merchant_id != merchant_id:
        raise NotFound(N_("Webhook endpoint not found."), rule="endpoint")
    endpoint.active = active
    db.session.commit()
    return endpoint


def replay(merchant_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again (delivered or not); the receiver dedupes by the event id."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint.merchant_id != merchant_id:
        raise NotFound(N_("Delivery not found."), rule="delivery")
    delivery.delivered_at = None
    delivery.next_attempt_at = context.now()
    call_after_commit(db.session(), lambda: enqueue([delivery_id]))
    db.session.commit()
    return delivery


def endpoints_of(merchant_id: int) -> list[WebhookEndpoint]:
    """The merchant's endpoints."""
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.merchant_id == merchant_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def deliveries_of(merchant_id: int, limit: int = 100) -> list[WebhookDelivery]:
    """The merchant's latest deliveries, newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookEndpoint.merchant_id == merchant_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def due_ids(limit: int = 1000) -> list[int]:
    """Undelivered deliveries whose next attempt is due (for a sweep after lost jobs)."""
    return list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.delivered_at.is_(None),
                WebhookDelivery.next_attempt_at <= context.now(),
                WebhookEndpoint.active.is_(True),
            )
            .limit(limit)
        )
    )
