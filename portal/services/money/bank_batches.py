"""Bank payouts: export pending transfers as a batch file, import the bank's statement."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from portal.domain.payout_states import PayoutState
from portal.extensions import db
from portal.models import Payment, Payout
from portal.plugins.channels import ChannelError, RefundResult
from portal.plugins.startup import channels
from portal.services import context
from portal.services.actors import Actor
from portal.services.dml import rows_matched
from portal.services.errors import DomainError
from portal.services.money import settlement
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record


@dataclass(frozen=True)
class Batch:
    """A batch file ready to download."""

    ref: str
    filename: str
    content: bytes
    payout_ids: tuple[int, ...]


@dataclass(frozen=True)
class ImportReport:
    """What a statement import did, line by line."""

    applied: int
    duplicates: int
    unmatched: tuple[str, ...]


def exportable(channel_id: str = "bank") -> list[Payout]:
    """Pending bank payouts not yet put in a batch."""
    return list(
        db.session.scalars(
            select(Payout)
            .where(
                Payout.channel == channel_id,
                Payout.state == PayoutState.PENDING,
                Payout.exported_at.is_(None),
            )
            .order_by(Payout.id)
        )
    )


def export_batch(actor: Actor, fmt: str, channel_id: str = "bank") -> Batch:
    """Write every not-yet-exported pending bank payout into one file and mark them exported."""
    channel = channels().get(channel_id)
    if fmt not in channel.batch_formats():
        raise DomainError(N_("Unknown batch format %(fmt)s."), rule="format", fmt=fmt)
    payouts = exportable(channel_id)
    if not payouts:
        raise DomainError(N_("No bank payouts are waiting for export."), rule="empty_batch")
    requests = [
        settlement.refund_request(p, db.session.get_one(Payment, p.payment_id), p.case.case_no)
        for p in payouts
    ]
    try:
        content = channel.export_batch(requests, fmt)
    except ChannelError as exc:
        raise DomainError(
            N_("The batch could not be written: %(why)s"), rule="batch", why=str(exc)
        ) from exc
    ref = "B" + context.now().strftime("%Y%m%d%H%M") + secrets.token_hex(2).upper()
    ids = tuple(p.id for p in payouts)
    executed = db.session.execute(
        update(Payout)
        .where(Payout.id.in_(ids), Payout.exported_at.is_(None))
        .values(exported_at=context.now(), batch_ref=ref)
        .execution_options(synchronize_session=False)
    )
    changed = rows_matched(executed)
    if changed != len(ids):
        db.session.rollback()
        raise DomainError(N_("Another export ran at the same time; try again."), rule="concurrent")
    for p in payouts:
        record(
            "payout_exported",
            actor,
            case=p.case,
            payout_id=p.id,
            data={"batch": ref, "format": fmt},
        )
    db.session.commit()
    ext = "xml" if fmt == "pain.001" else "csv"
    return Batch(ref, f"refunds-{ref}.{ext}", content, ids)


def import_statement(actor: Actor, data: bytes, channel_id: str = "bank") -> ImportReport:
    """Apply a camt.053 statement: booked transfers succeed, returns reopen their payouts."""
    channel = channels().get(channel_id)
    try:
        lines = channel.reconcile_statement(data)
    except ChannelError as exc:
        raise DomainError(
            N_("The statement was refused: %(why)s"), rule="statement", why=str(exc)
        ) from exc
    applied = duplicates = 0
    unmatched: list[str] = []
    for line in lines:
        payout = db.session.scalar(
            select(Payout).where(Payout.idempotency_key == line.idempotency_key)
        )
        if payout is None or payout.channel != channel_id or payout.amount_fen != line.amount_fen:
            unmatched.append(line.idempotency_key)
            continue
        before = payout.state
        settlement.apply_result(
            payout.id,
            RefundResult(
                line.status,
                line.idempotency_key,
                line.message or "bank statement",
                raw={"booked_on": line.booked_on},
            ),
            source="statement",
        )
        db.session.expire_all()
        after = db.session.get_one(Payout, payout.id).state
        if after != before:
            applied += 1
        else:
            duplicates += 1
    record(
        "statement_imported",
        actor,
        data={"lines": len(lines), "applied": applied, "unmatched": unmatched},
    )
    db.session.commit()
    return ImportReport(applied, duplicates, tuple(unmatched))
