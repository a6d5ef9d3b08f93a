"""Everything the portal holds about a buyer's orders, for the buyer: one ZIP from the case page
after the usual lookup (``my-data.json``, the evidence originals, ``manifest.json``), each
download recorded in each included order's trail before the file is made. The orders are the
case's and every other order this browser has looked up and may still see: the buyer proves an
order is theirs with its query password, so that is what "their orders" can mean here.

For each order it holds the order as the buyer gave it (contact in full), the payment, the
listing at purchase, when each code was delivered and revealed (never the codes), every case on
the order with the buyer's own words, the timeline the buyer sees, offers, support tickets,
notices to the buyer, refunds, erasure requests and the evidence files. Staff's names and the
events only staff see are not the buyer's data and are left out. A file erased (by retention
or on request) is listed as erased, never an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.domain import audit_chain, privacy
from portal.extensions import db
from portal.models import (
    ErasureRequest,
    Event,
    Notice,
    Offer,
    Order,
    Payout,
    RefundCase,
    Ticket,
)
from portal.services import context
from portal.services.actors import BUYER
from portal.services.audit.case_file import CaseFile
from portal.services.privacy.files import evidence_entry
from portal.services.refunds.timeline import STAFF_ONLY
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit

FORMAT = "refund-portal personal data export"
VERSION = 2


def _time(value: datetime | None) -> str | None:
    return audit_chain.canonical_time(value) if value is not None else None


def _order(order: Order) -> dict[str, Any]:
    payment = order.payment
    snapshot = order.snapshot
    return {
        "order_no": order.order_no,
        "shop": order.merchant.name,
        "buyer_contact": order.buyer_contact,
        "personal_data_erased_at": _time(order.erased_at),
        "amount_fen": order.amount_fen,
        "currency": order.currency,
        "quantity": order.quantity,
        "created_at": _time(order.created_at),
        "paid_at": _time(order.paid_at),
        "delivered_at": _time(order.delivered_at),
        "cancelled_at": _time(order.cancelled_at),
        "goods_used": order.goods_used,
        "payment": {
            "channel": payment.channel,
            "gateway_trade_id": payment.gateway_trade_id,
            "merchant_trade_no": payment.merchant_trade_no,
            "captured_fen": payment.captured_fen,
            "paid_at": _time(payment.paid_at),
            "payer_id": payment.payer_id,
        }
        if payment
        else None,
        "listing_at_purchase": {
            "title": snapshot.title,
            "description": snapshot.description,
            "price_fen": snapshot.price_fen,
            "policy_text": snapshot.policy_text,
        }
        if snapshot
        else None,
        "codes": [
            {
                "code_id": code.id,
                "delivered_at": _time(code.delivered_at),
                "first_revealed_at": _time(code.first_revealed_at),
                "returned_at": _time(code.returned_at),
            }
            for code in order.codes
        ],
    }


def _events(case: RefundCase) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(Event)
        .where(Event.case_id == case.id, Event.kind.not_in(sorted(STAFF_ONLY)))
        .order_by(Event.chain_seq)
    )
    return [
        {
            "kind": e.kind,
            "by": e.actor_role,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "words": e.reason if e.actor_role == BUYER.role else "",
            "at": _time(e.created_at),
        }
        for e in rows
    ]


def _case(case: RefundCase, out: zipfile.ZipFile) -> dict[str, Any]:
    offers = db.session.scalars(select(Offer).where(Offer.case_id == case.id).order_by(Offer.id))
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.case_id == case.id).order_by(Ticket.id)
    )
    return {
        "case_no": case.case_no,
        "kind": case.kind,
        "reason": case.reason,
        "explanation": case.explanation,
        "applied_from_address": case.applicant_address,
        "state": case.state,
        "amount_requested_fen": case.amount_requested_fen,
        "amount_approved_fen": case.amount_approved_fen,
        "decision_note": case.decision_note,
        "decision_msg": case.decision_msg,
        "info_request": case.info_request,
        "appeal_count": case.appeal_count,
        "created_at": _time(case.created_at),
        "updated_at": _time(case.updated_at),
        "timeline": _events(case),
        "offers": [
            {
                "by": o.by_role,
                "amount_fen": o.amount_fen,
                "note": o.note,
                "state": o.state,
                "at": _time(o.created_at),
            }
            for o in offers
        ],
        "tickets": [
            {
                "reason": t.reason,
                "state": t.state,
                "created_at": _time(t.created_at),
                "messages": [
                    {"by": m.role, "text": m.text, "at": _time(m.created_at)} for m in t.messages
                ],
            }
            for t in tickets
        ],
        "evidence": [evidence_entry(row, out) for row in case.evidence],
    }


def _order_document(order: Order, out: zipfile.ZipFile) -> dict[str, Any]:
    """One order's part of the export: the order, its cases (evidence written to ``out``),
    refunds, the buyer's notices and erasure requests."""
    case_rows = db.session.scalars(
        select(RefundCase).where(RefundCase.order_id == order.id).order_by(RefundCase.id)
    ).all()
    payouts = db.session.scalars(
        select(Payout).where(Payout.order_id == order.id).order_by(Payout.id)
    )
    notices = db.session.scalars(
        select(Notice)
        .where(Notice.order_id == order.id, Notice.audience == str(BUYER.role))
        .order_by(Notice.id)
    )
    requests = db.session.scalars(
        select(ErasureRequest)
        .where(ErasureRequest.order_id == order.id)
        .order_by(ErasureRequest.id)
    )
    return {
        "order": _order(order),
        "cases": [_case(c, out) for c in case_rows],
        "refunds": [
            {
                "channel": p.channel,
                "amount_fen": p.amount_fen,
                "state": p.state,
                "gateway_reference": p.gateway_reference,
                "created_at": _time(p.created_at),
                "settled_at": _time(p.settled_at),
            }
            for p in payouts
        ],
        "notices": [
            {
                "kind": n.kind,
                "message": n.message,
                "params": n.params,
                "at": _time(n.created_at),
                "read_at": _time(n.read_at),
            }
            for n in notices
        ],
        "erasure_requests": [
            {
                "state": r.state,
                "asked_at": _time(r.created_at),
                "due_at": _time(r.due_at),
                "answered_at": _time(r.answered_at),
                "refusal": r.refusal,
            }
            for r in requests
        ],
    }


def build(orders: Sequence[Order]) -> bytes:
    """The export's bytes: everything held about each of ``orders``, as it is now."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        parts = [_order_document(order, out) for order in orders]
        document: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "made_at": _time(context.now()),
            "what_this_is": "everything the refund portal holds about these orders "
            "(docs/privacy.md)",
            "orders": parts,
        }
        data = json.dumps(document, ensure_ascii=False, indent=1, default=str).encode()
        out.writestr("my-data.json", data)
        manifest = {"my-data.json": hashlib.sha256(data).hexdigest()}
        for part in parts:
            for case_doc in part["cases"]:
                for entry in case_doc["evidence"]:
                    if entry["file"]:
                        manifest[entry["file"]] = entry["sha256"]
        out.writestr("manifest.json", json.dumps(manifest, indent=1))
    return buffer.getvalue()


def download(case: RefundCase, also: Iterable[int] = ()) -> CaseFile:
    """Record the buyer's download in the trail of each order it holds (committed), then make
    the file: the case's order first, then the orders ``also`` names (ids this browser may
    see), each once."""
    case_id, first = case.id, case.order_id
    order_ids = [first, *sorted({i for i in also if i != first})]
    orders = db.session.scalars(select(Order).where(Order.id.in_(order_ids))).all()
    by_id = {o.id: o for o in orders}
    kept = [i for i in order_ids if i in by_id]
    data = {"order_ids": kept}

    def _record() -> None:
        record(privacy.EXPORTED, BUYER, case=case, data=data)
        for order_id in kept[1:]:
            record(privacy.EXPORTED, BUYER, order_id=order_id, data=data)

    commit(_record)
    fresh = db.session.get_one(RefundCase, case_id)
    db.session.expire_all()
    ordered = [db.session.get_one(Order, i) for i in kept]
    return CaseFile(name=f"my-data-{fresh.order.order_no}.zip", data=build(ordered))
