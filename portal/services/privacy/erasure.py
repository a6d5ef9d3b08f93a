"""Erasing a buyer's personal data on an order: after the retention period from its cases'
end (the nightly job), or on the buyer's request answered by staff; never while a legal hold
stands.

What goes: the order's contact and query-password hash, the payer's account id, the network
address each application came from, the buyer's own words (the explanation, offer notes,
ticket messages, and the ``reason`` of every event the buyer wrote), and the evidence files
(their rows, sizes and SHA-256 stay). What stays: numbers, amounts, states, times, gateway
references and the audit chain. Blanked events keep their hash, and one erasure receipt per
chain names each of them with its hash and the hash of its content as blanked, so
``audit verify`` still passes (``portal.domain.audit_chain``).

One order per transaction, compare-and-set on ``orders.erased_at``: safe to run twice and
beside another run. Files are removed once the transaction has committed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, insert, select, update

from portal.domain import audit_chain, privacy
from portal.domain.privacy import Hold
from portal.domain.states import Role
from portal.extensions import db
from portal.models import (
    Event,
    EventErasure,
    Evidence,
    Offer,
    Order,
    Payment,
    RefundCase,
    Ticket,
    TicketMessage,
    WebhookDelivery,
)
from portal.services import context
from portal.services.actors import SYSTEM, Actor
from portal.services.after_commit import call_after_commit
from portal.services.dml import rows_matched
from portal.services.errors import Conflict
from portal.services.policy_text import N_
from portal.services.privacy import holds
from portal.services.refunds.transitions import record
from portal.services.uploads import evidence, storage

log = logging.getLogger(__name__)
EVENTS = Event.__table__
ORDERS = Order.__table__
PAGE = 200
#: what an erasure blanks, as its receipt lists it
ERASED_FIELDS = {
    "order": ["buyer_contact", "query_password_hash"],
    "payment": ["payer_id", *privacy.PAYER_KEYS],
    "cases": ["explanation", "applicant_address"],
    "offers": ["note (the buyer's)"],
    "ticket_messages": ["text (the buyer's)"],
    "events": list(privacy.BUYER_TEXT_FIELDS),
    "evidence": ["file", "original_name", "thumbnail", "perceptual hash"],
}
#: the causes an erasure receipt names
RETENTION, REQUEST = "retention", "request"


class Held(Conflict):
    """The order's personal data may not be erased now."""

    def __init__(self, found: list[Hold]) -> None:
        super().__init__(
            N_("The personal data cannot be erased now: a legal hold stands."), rule="held"
        )
        self.holds = found


def due_order_ids(now: datetime, days: int, limit: int = PAGE, after: int = 0) -> list[int]:
    """Orders not yet erased whose cases have all ended at least ``days`` ago (by id, after
    ``after``); holds are checked order by order when erasing."""
    ended = [str(s) for s in privacy.ENDED_STATES]
    stmt = (
        select(RefundCase.order_id)
        .join(Order, Order.id == RefundCase.order_id)
        .where(Order.erased_at.is_(None), RefundCase.order_id > after)
        .group_by(RefundCase.order_id)
        .having(func.max(RefundCase.updated_at) <= now - timedelta(days=days))
        .having(func.sum(when((RefundCase.state.in_(ended), 0), else_=1)) == 0)
        .order_by(RefundCase.order_id)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def erase_due(now: datetime | None = None) -> int:
    """Erase every order due under the retention period and not held; returns how many."""
    now = now or context.now()
    days = holds.retention_days()
    done, after, failed = 0, 0, []
    while ids := due_order_ids(now, days, after=after):
        for order_id in ids:
            try:
                done += erase_order(order_id, SYSTEM, RETENTION, retention_days=days)
            except Held:
                pass
            except Exception:  # one order's failure does not keep the others' data
                log.exception("erasing the personal data of order %s failed", order_id)
                failed.append(order_id)
        after = ids[-1]
    if failed:
        raise RuntimeError(f"erasure failed for orders {failed} (the others were erased)")
    return done


def _content(event: Event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in audit_chain.CONTENT_FIELDS}


def _blank_events(order: Order, case_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Blank the buyer's words in the order's events; returns the receipt entries per chain.
    An event whose content already does not match its hash is left as it is (verify reports
    it: an erasure must not hide a change)."""
    chains = [audit_chain.case_chain(i) for i in case_ids]
    chains.append(audit_chain.chain_key(None, order.id))
    rows = db.session.scalars(
        select(Event)
        .where(
            Event.chain.in_(chains),
            Event.actor_role == str(Role.BUYER),
            Event.reason != privacy.BLANK,
        )
        .order_by(Event.chain, Event.chain_seq)
    ).all()
    entries: dict[str, list[dict[str, Any]]] = defaultdict(list)
    done: list[int] = []
    for event in rows:
        content = _content(event)
        if event.hash != audit_chain.link_hash(event.prev_hash or "", content):
            log.warning("event %s does not match its hash: left as it is", event.id)
            continue
        blanked = {**content, "reason": privacy.BLANK}
        redacted = audit_chain.link_hash(event.prev_hash or "", blanked)
        db.session.execute(insert(EventErasure).values(event_id=event.id, erased_at=context.now()))
        db.session.execute(
            update(EVENTS).where(EVENTS.c.id == event.id).values(reason=privacy.BLANK)
        )
        entries[event.chain or ""].append(
            audit_chain.erased_link(
                event.chain_seq or 0, event.hash or "", privacy.BUYER_TEXT_FIELDS, redacted
            )
        )
        done.append(event.id)
    _blank_webhook_copies(done)
    for event in rows:
        db.session.expire(event)
    return entries


def _blank_webhook_copies(event_ids: list[int]) -> None:
    """The copies of those events kept in the webhook outbox lose the buyer's words too."""
    if not event_ids:
        return
    for delivery in db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_id.in_(event_ids))
    ):
        body = dict(delivery.payload or {})
        if isinstance(body.get("data"), dict) and body["data"].get("reason"):
            body["data"] = {**body["data"], "reason": privacy.BLANK}
            delivery.payload = body


def _erase_files(case_ids: list[int], now: datetime) -> int:
    rows = db.session.scalars(
        select(Evidence).where(Evidence.case_id.in_(case_ids), Evidence.erased_at.is_(None))
    ).all()
    names = []
    for row in rows:
        names += [n for n in (row.stored_name, row.thumb_name) if n]
        row.original_name = ""
        row.thumb_name = None
        row.phash = None
        row.erased_at = now

    def remove() -> None:
        for name in names:
            try:
                evidence.remove_stored(name)
            except storage.StorageUnavailable:  # the rows say erased; the file is reported
                log.error("erasure: the evidence store did not remove %s", name)

    call_after_commit(db.session(), remove)
    return len(rows)


def _erase_words(order: Order, case_ids: list[int]) -> dict[str, int]:
    buyer = str(Role.BUYER)
    counts = {"cases": 0, "offers": 0, "ticket_messages": 0}
    if case_ids:
        counts["cases"] = rows_matched(
            db.session.execute(
                update(RefundCase)
                .where(RefundCase.id.in_(case_ids))
                .values(explanation="", applicant_address="")
                .execution_options(synchronize_session=False)
            )
        )
        counts["offers"] = rows_matched(
            db.session.execute(
                update(Offer)
                .where(Offer.case_id.in_(case_ids), Offer.by_role == buyer)
                .values(note="")
                .execution_options(synchronize_session=False)
            )
        )
    tickets = select(Ticket.id).where(Ticket.order_id == order.id).scalar_subquery()
    counts["ticket_messages"] = rows_matched(
        db.session.execute(
            update(TicketMessage)
            .where(TicketMessage.ticket_id.in_(tickets), TicketMessage.role == buyer)
            .values(text="")
            .execution_options(synchronize_session=False)
        )
    )
    payment = db.session.scalars(select(Payment).where(Payment.order_id == order.id)).first()
    if payment is not None:
        payment.payer_id = ""
        payment.extra = {
            k: v for k, v in (payment.extra or {}).items() if k not in privacy.PAYER_KEYS
        }
    return counts


def erase_order(
    order_id: int,
    actor: Actor,
    cause: str,
    *,
    retention_days: int | None,
    request_id: int = 0,
    also: Callable[[], object] | None = None,
) -> bool:
    """Erase the order's personal data (in its own transaction, committed, with ``also`` run
    in it); False when it was erased already. ``Held`` (nothing written) while a hold stands;
    ``retention_days`` None: on request, without waiting for the period."""
    now = context.now()
    try:
        order = db.session.get(Order, order_id)
        if order is None or order.erased_at is not None:
            db.session.rollback()
            return False
        # the claim first: it locks the order's row (PostgreSQL), so a hold set meanwhile
        # (which locks it too) is either seen below or waits and finds the order erased
        claimed = db.session.execute(
            update(ORDERS)
            .where(ORDERS.c.id == order_id, ORDERS.c.erased_at.is_(None))
            .values(buyer_contact="", query_password_hash="", password_source=None, erased_at=now)
        )
        if rows_matched(claimed) == 0:  # another run erased it meanwhile
            db.session.rollback()
            return False
        found = holds.of_order(order_id, now, retention_days)
        if found:
            raise Held(found)
        case_rows = db.session.scalars(
            select(RefundCase).where(RefundCase.order_id == order_id).order_by(RefundCase.id)
        ).all()
        case_ids = [c.id for c in case_rows]
        entries = _blank_events(order, case_ids)
        files = _erase_files(case_ids, now) if case_ids else 0
        counts = _erase_words(order, case_ids)
        summary = {
            "cause": cause,
            "request_id": request_id or None,
            "erased": ERASED_FIELDS,
            "counts": {**counts, "evidence_files": files},
        }
        for case in case_rows:
            chain = audit_chain.case_chain(case.id)
            record(
                privacy.ERASED, actor, case=case, data={**summary, "erased_events": entries[chain]}
            )
        order_chain = audit_chain.chain_key(None, order_id)
        if entries.get(order_chain) or not case_rows:
            record(
                privacy.ERASED,
                actor,
                order_id=order_id,
                data={**summary, "erased_events": entries.get(order_chain, [])},
            )
        if also is not None:
            also()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.expire_all()
    return True
