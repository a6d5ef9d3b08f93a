"""A case file for machines: one ZIP holding the case as JSON, its evidence originals with their
SHA-256, the case's chain of events (each with the canonical text its hash covers) and the
seal that covers the chain, so a third party can check it without access to the portal; and
beside them the same case as a PDF a person reads (``case_pdf``), also downloaded alone.

Each download is recorded in the case's chain (who, as which party) before the file is made.
Events whose buyer's words an erasure blanked say so, with the receipt that names them; an
erased evidence file is listed as erased.
The buyer gets their own contact in full; the shop and staff get it masked. Events only the
platform's staff see are kept in a shop's or buyer's file as their links alone (place, hashes),
so the chain still checks. Evidence whose file is gone is listed as missing, never an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.domain import audit_chain, contacts
from portal.extensions import db
from portal.models import AuditSeal, AuditSealHead, Event, Offer, Payout, RefundCase
from portal.services import context
from portal.services.actors import Actor
from portal.services.privacy.files import evidence_entry
from portal.services.refunds.timeline import STAFF_ONLY
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit

FORMAT = "refund-portal case file"
VERSION = 1
STAFF, MERCHANT, BUYER = "staff", "merchant", "buyer"


@dataclass(frozen=True)
class CaseFile:
    """A case file as downloaded."""

    name: str
    data: bytes
    mimetype: str = "application/zip"


@dataclass(frozen=True)
class Wording:
    """How the portal's stored notes, times and channels read in the PDF: given by the views,
    which own how notes read (``portal.views.note_words``)."""

    local_time: Callable[[datetime | None], str]
    event_note: Callable[[Event], str | None]
    person_words: Callable[[Event], str | None]
    gateway_text: Callable[[Event], str | None]
    decision_text: Callable[[Any, str], str | None]
    channel_name: Callable[[str], str]


def _time(value: datetime | None) -> str | None:
    return audit_chain.canonical_time(value) if value is not None else None


def _event(event: Event, redact: bool, blanked: dict[int, dict[str, Any]]) -> dict[str, Any]:
    link = {
        "id": event.id,
        "chain": event.chain,
        "chain_seq": event.chain_seq,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
    if redact:
        return {**link, "redacted": True}
    content = {name: getattr(event, name) for name in audit_chain.CONTENT_FIELDS}
    content["created_at"] = _time(event.created_at)
    extra = {"erased": blanked[event.chain_seq]} if event.chain_seq in blanked else {}
    return {**link, **content, "canonical": audit_chain.canonical(content).decode(), **extra}


def _chain_events(case: RefundCase, audience: str) -> list[dict[str, Any]]:
    events = db.session.scalars(
        select(Event)
        .where(Event.chain == audit_chain.case_chain(case.id))
        .order_by(Event.chain_seq)
    ).all()
    # events whose buyer's words an erasure blanked: the receipt that names them
    blanked: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.kind == audit_chain.ERASED:
            for seq, (_stored, redacted) in audit_chain.receipt_covers(e.data).items():
                blanked[seq] = {"by_receipt_seq": e.chain_seq, "hash_as_blanked": redacted}
    return [_event(e, audience != STAFF and e.kind in STAFF_ONLY, blanked) for e in events]


def _seal(case: RefundCase) -> dict[str, Any]:
    """The newest seal naming the case's chain, with the place it covers; or none yet."""
    chain = audit_chain.case_chain(case.id)
    row = db.session.execute(
        select(AuditSeal, AuditSealHead.seq)
        .join(AuditSealHead, AuditSealHead.seal_id == AuditSeal.id)
        .where(AuditSealHead.chain == chain)
        .order_by(AuditSeal.seal_no.desc())
        .limit(1)
    ).first()
    if row is None:
        return {"sealed": False, "chain": chain}
    seal, seq = row
    # heavy: the seal's key code loads cryptography's OpenSSL bindings, which the pages that
    # offer the download (and import this module) do not need
    from portal.services.audit import seals

    return {"sealed": True, "chain": chain, "covers_seq": seq, **seals.export(seal)}


def _evidence(case: RefundCase, out: zipfile.ZipFile) -> list[dict[str, Any]]:
    return [evidence_entry(row, out) for row in case.evidence]


def _document(case: RefundCase, audience: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    order = case.order
    snapshot = order.snapshot
    payouts = db.session.scalars(
        select(Payout).where(Payout.case_id == case.id).order_by(Payout.id)
    )
    offers = db.session.scalars(select(Offer).where(Offer.case_id == case.id).order_by(Offer.id))
    contact = order.buyer_contact if audience == BUYER else contacts.mask(order.buyer_contact)
    return {
        "format": FORMAT,
        "version": VERSION,
        "made_at": _time(context.now()),
        "made_for": audience,
        "case": {
            "case_no": case.case_no,
            "kind": case.kind,
            "reason": case.reason,
            "explanation": case.explanation,
            "state": case.state,
            "amount_requested_fen": case.amount_requested_fen,
            "amount_approved_fen": case.amount_approved_fen,
            "decision_note": case.decision_note,
            "decision_msg": case.decision_msg,
            "appeal_count": case.appeal_count,
            "created_at": _time(case.created_at),
            "updated_at": _time(case.updated_at),
        },
        "order": {
            "order_no": order.order_no,
            "shop": order.merchant.name,
            "buyer_contact": contact,
            "amount_fen": order.amount_fen,
            "currency": order.currency,
            "paid_at": _time(order.paid_at),
            "delivered_at": _time(order.delivered_at),
            "cancelled_at": _time(order.cancelled_at),
            "goods_used": order.goods_used,
            "payment": {
                "channel": order.payment.channel,
                "gateway_trade_id": order.payment.gateway_trade_id,
                "captured_fen": order.payment.captured_fen,
            }
            if order.payment
            else None,
        },
        "listing_at_purchase": {
            "title": snapshot.title,
            "description": snapshot.description,
            "face_value_fen": snapshot.face_value_fen,
            "price_fen": snapshot.price_fen,
            "policy_text": snapshot.policy_text,
            "taken_at": _time(snapshot.taken_at),
        }
        if snapshot
        else None,
        "code_reveal_log": [
            {
                "code_id": code.id,
                "delivered_at": _time(code.delivered_at),
                "first_revealed_at": _time(code.first_revealed_at),
                "returned_at": _time(code.returned_at),
            }
            for code in order.codes
        ],
        "offers": [
            {
                "by": o.by_role,
                "amount_fen": o.amount_fen,
                "note": o.note,
                "state": o.state,
                "created_at": _time(o.created_at),
            }
            for o in offers
        ],
        "payouts": [
            {
                "channel": p.channel,
                "amount_fen": p.amount_fen,
                "state": p.state,
                "gateway_reference": p.gateway_reference,
                "attempts": p.attempts,
                "created_at": _time(p.created_at),
                "settled_at": _time(p.settled_at),
            }
            for p in payouts
        ],
        "evidence": files,
    }


def _pdf(case: RefundCase, audience: str, words: Wording) -> bytes:
    # heavy: reportlab and Pillow load with the first PDF a worker makes, not with every page
    from portal.services.audit import case_pdf

    return case_pdf.build(case, audience, words)


def build(case: RefundCase, audience: str, words: Wording) -> bytes:
    """The case file's bytes for ``audience`` (staff, merchant or buyer), as the case is now;
    its ``case.pdf`` in the current request's language."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        files = _evidence(case, out)
        pdf = _pdf(case, audience, words)
        out.writestr("case.pdf", pdf)
        parts = {
            "case.json": _document(case, audience, files),
            "chain.json": {
                "chain": audit_chain.case_chain(case.id),
                "hash_rule": "sha256(prev_hash + '\\n' + canonical), canonical as UTF-8",
                "erased_rule": "an event with 'erased' had personal data blanked: its canonical"
                " text hashes to erased.hash_as_blanked, which the erasure receipt at"
                " erased.by_receipt_seq names beside the event's hash",
                "events": _chain_events(case, audience),
            },
            "seal.json": _seal(case),
        }
        manifest = {"case.pdf": hashlib.sha256(pdf).hexdigest()}
        for name, part in parts.items():
            data = json.dumps(part, ensure_ascii=False, indent=1, default=str).encode()
            out.writestr(name, data)
            manifest[name] = hashlib.sha256(data).hexdigest()
        for entry in files:
            if entry["file"]:
                manifest[entry["file"]] = entry["sha256"]
        out.writestr("manifest.json", json.dumps(manifest, indent=1))
    return buffer.getvalue()


def _recorded(case: RefundCase, actor: Actor, data: dict[str, str]) -> RefundCase:
    """Record a download in the case's chain (committed); the case as it is afterwards."""
    case_id = case.id
    commit(lambda: record(audit_chain.CASE_FILE_DOWNLOADED, actor, case=case, data=data))
    return db.session.get_one(RefundCase, case_id)


def download(case: RefundCase, actor: Actor, audience: str, words: Wording) -> CaseFile:
    """Record the download in the case's chain (committed), then make the ZIP."""
    fresh = _recorded(case, actor, {"as": audience})
    return CaseFile(name=f"case-{fresh.case_no}.zip", data=build(fresh, audience, words))


def download_pdf(case: RefundCase, actor: Actor, audience: str, words: Wording) -> CaseFile:
    """Record the download in the case's chain (committed), then make the PDF alone."""
    fresh = _recorded(case, actor, {"as": audience, "format": "pdf"})
    return CaseFile(
        name=f"case-{fresh.case_no}.pdf",
        data=_pdf(fresh, audience, words),
        mimetype="application/pdf",
    )
