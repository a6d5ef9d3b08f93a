"""Batch-paid payouts: export pending transfers as a batch file, import the statement.

Offered for every loaded channel that declares the capability
(:class:`~portal.plugins.channels.BatchExporter`,
:class:`~portal.plugins.channels.StatementImporter`), whatever its id: the bank
plugin's, or a third party's.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, select, update

from portal.domain.payout_states import PayoutState
from portal.domain.reconciliation import BEIJING
from portal.extensions import db
from portal.models import Payment, Payout, StatementLine
from portal.plugins.channels import (
    BatchExporter,
    BatchFormat,
    ChannelError,
    PayoutChannel,
    RefundRequest,
    RefundResult,
    ResultStatus,
    StatementImporter,
)
from portal.plugins.channels import StatementLine as StatementLine_
from portal.plugins.startup import channels
from portal.plugins.words import Note, Words
from portal.services import context
from portal.services.actors import Actor
from portal.services.after_commit import call_after_commit
from portal.services.dml import rows_matched
from portal.services.errors import DomainError
from portal.services.money import settlement
from portal.services.policy_text import N_
from portal.services.reconciliation import fetching
from portal.services.refunds.transitions import record


@dataclass(frozen=True)
class Batch:
    """A batch file ready to download."""

    ref: str
    filename: str
    media_type: str
    content: bytes
    payout_ids: tuple[int, ...]


@dataclass(frozen=True)
class ImportReport:
    """What a statement import did, line by line."""

    applied: int
    duplicates: int
    unmatched: tuple[str, ...]


@dataclass(frozen=True)
class BatchDesk:
    """What the payouts page offers for one batch-paid channel."""

    channel_id: str
    label: Words | str  # shown in the reader's language
    formats: tuple[BatchFormat, ...]  # empty when the channel exports no batch files
    waiting: int  # pending payouts not yet in a batch file
    imports_statements: bool


def desks() -> list[BatchDesk]:
    """One desk per loaded channel that exports batches or imports statements, by id."""
    found = []
    for channel in channels().all():
        formats = tuple(channel.batch_formats()) if isinstance(channel, BatchExporter) else ()
        imports = isinstance(channel, StatementImporter)
        if formats or imports:
            found.append(
                BatchDesk(channel.id, channel.label, formats, _waiting(channel.id), imports)
            )
    return found


def _pending_unexported(channel_id: str) -> tuple[ColumnElement[bool], ...]:
    return (
        Payout.channel == channel_id,
        Payout.state == PayoutState.PENDING,
        Payout.exported_at.is_(None),
    )


def _waiting(channel_id: str) -> int:
    query = select(func.count()).select_from(Payout).where(*_pending_unexported(channel_id))
    return db.session.scalar(query) or 0


def exportable(channel_id: str) -> list[Payout]:
    """The channel's pending payouts not yet put in a batch."""
    query = select(Payout).where(*_pending_unexported(channel_id)).order_by(Payout.id)
    return list(db.session.scalars(query))


def _channel(channel_id: str) -> PayoutChannel:
    try:
        return channels().get(channel_id)
    except ChannelError:
        raise DomainError(
            N_("There is no loaded payout channel %(channel)s."),
            rule="channel",
            channel=channel_id,
        ) from None


def export_batch(actor: Actor, channel_id: str, fmt: str) -> Batch:
    """Write every not-yet-exported pending payout of the channel into one file; mark them."""
    channel = _channel(channel_id)
    if not isinstance(channel, BatchExporter):
        raise DomainError(
            N_("The payment route %(channel)s does not pay by batch file."),
            rule="no_batches",
            channel=channel_id,
        )
    chosen = [f for f in channel.batch_formats() if f.name == fmt]
    if not chosen:
        raise DomainError(N_("Unknown batch format %(fmt)s."), rule="format", fmt=fmt)
    payouts = exportable(channel_id)
    if not payouts:
        raise DomainError(N_("No payouts are waiting for export."), rule="empty_batch")
    requests = [
        settlement.refund_request(p, db.session.get_one(Payment, p.payment_id), p.case.case_no)
        for p in payouts
    ]
    now = context.now()
    try:
        content = _written(channel, requests, fmt, now)
    except ChannelError as exc:
        raise DomainError(
            N_("The batch could not be written: %(why)s"), rule="batch", why=str(exc)
        ) from exc
    ref = "B" + now.strftime("%Y%m%d%H%M") + secrets.token_hex(2).upper()
    ids = tuple(p.id for p in payouts)
    executed = db.session.execute(
        update(Payout)
        .where(Payout.id.in_(ids), Payout.exported_at.is_(None))
        .values(exported_at=now, batch_ref=ref)
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
    kind = chosen[0]
    return Batch(ref, f"refunds-{ref}.{kind.extension}", kind.media_type, content, ids)


def _written(
    channel: BatchExporter, requests: Sequence[RefundRequest], fmt: str, now: datetime
) -> bytes:
    """The channel's batch file. An ``export_batch`` that takes ``now`` is given the export's
    moment in Beijing time: its requested execution date is then the day the payouts count
    as sent on (their ``exported_at``), the day reconciliation matches its statement of."""
    if "now" in inspect.signature(channel.export_batch).parameters:
        export = channel.export_batch
        return export(requests, fmt, now=now.astimezone(BEIJING))  # type: ignore[call-arg]
    return channel.export_batch(requests, fmt)


def import_statement(actor: Actor, channel_id: str, data: bytes) -> ImportReport:
    """Apply the channel's statement: booked transfers succeed, returns reopen their payouts."""
    channel = _channel(channel_id)
    if not isinstance(channel, StatementImporter):
        raise DomainError(
            N_("The payment route %(channel)s takes no statements."),
            rule="no_statements",
            channel=channel_id,
        )
    try:
        lines = channel.reconcile_statement(data)
    except ChannelError as exc:
        raise DomainError(
            N_("The statement was refused: %(why)s"), rule="statement", why=str(exc)
        ) from exc
    applied = duplicates = 0
    unmatched: list[str] = []
    keep_lines(channel_id, lines)
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
                line.message,
                raw={"booked_on": line.booked_on},
                note=Note("transfer_returned") if line.status == ResultStatus.FAILED else None,
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
    booked = {d for line in lines if (d := _day(line.booked_on))}
    call_after_commit(db.session(), lambda: fetching.statement_imported(channel_id, booked))
    db.session.commit()
    return ImportReport(applied, duplicates, tuple(unmatched))


def _day(text: str) -> date | None:
    """A line's booking date (None when it gives none an ISO date can be read from)."""
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 and text[4] == "-" else None
    except ValueError:
        return None


def keep_lines(channel_id: str, lines: Sequence[StatementLine_]) -> None:
    """Keep the statement's lines (the channel's bill of their booking day, for
    reconciliation), each entry once: importing the same statement again adds none, a
    transfer the bank booked twice (two entries) is kept twice."""
    seen: set[tuple[str, str, str, str]] = set(
        db.session.execute(
            select(
                StatementLine.refund_no,
                StatementLine.status,
                StatementLine.booked_on,
                StatementLine.entry_ref,
            ).where(
                StatementLine.channel == channel_id,
                StatementLine.refund_no.in_({line.idempotency_key for line in lines}),
            )
        ).all()
    )
    now = context.now()
    for line in lines:
        day = _day(line.booked_on)
        booked_on = day.isoformat() if day else ""  # a date that does not read: its import day
        key = (line.idempotency_key, str(line.status), booked_on, line.entry_ref[:35])
        if key in seen:
            continue
        seen.add(key)
        db.session.add(
            StatementLine(
                channel=channel_id,
                refund_no=line.idempotency_key,
                amount_fen=line.amount_fen,
                status=str(line.status),
                booked_on=booked_on,
                entry_ref=line.entry_ref[:35],
                imported_at=now,
            )
        )
    db.session.flush()
