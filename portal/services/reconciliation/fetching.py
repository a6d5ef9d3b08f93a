"""Fetch a channel's bill for a day from its plugin and reconcile it, or note why not.

The channel is called with no transaction open; its rows are then read as the matching
streams them into the database. ``BillMissing`` (and a download that failed) is noted as
missing, for the job to retry; ``BillRefused``, a row the contract refuses or a row for
another day is noted as refused; in both cases, even part-way through the rows, nothing of
the bill is recorded as reconciled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date

from portal.domain.reconciliation import DayBasis, RunStatus, beijing_day
from portal.infra.queue import enqueue_once
from portal.plugins.channels import (
    BillMissing,
    BillProvider,
    BillRefused,
    BillRow,
    ChannelError,
    PayoutChannel,
    StatementImporter,
)
from portal.plugins.startup import channels
from portal.services import context
from portal.services.actors import SYSTEM, Actor
from portal.services.errors import DomainError
from portal.services.policy_text import N_
from portal.services.reconciliation import statements
from portal.services.reconciliation.matching import Outcome, reconcile, record_failure
from portal.services.unit_of_work import release

log = logging.getLogger(__name__)
#: how long a waiting job blocks another copy of it from being enqueued (seconds)
WAITING_S = 600
#: the furthest back a day may be asked for (the gateways keep bills about three months)
OLDEST_DAYS = 90


def job_id(channel_id: str, day: date) -> str:
    """The reconciliation job's id: one per channel and day."""
    return f"recon-{channel_id}-{day.isoformat()}"


def enqueue_day(channel_id: str, day: date) -> bool:
    """Enqueue the job for one channel's day unless a copy is waiting; True if enqueued."""
    job = enqueue_once(
        job_id(channel_id, day),
        WAITING_S,
        "jobs.reconcile.reconcile_day",
        channel_id,
        day.isoformat(),
        job_id=job_id(channel_id, day),
    )
    return job is not None


def request_day(channel_id: str, day: date) -> bool:
    """An operator asks for one channel's past day now: checked, then queued (False when a
    copy is already waiting). DomainError for a channel with no bill or a day with none."""
    provider(channel_id)
    today = beijing_day(context.now())
    if day >= today:
        raise DomainError(
            N_("Only a day that is over has a bill: choose a date before today."),
            rule="recon_future",
        )
    if (today - day).days > OLDEST_DAYS:
        raise DomainError(
            N_("The gateways keep bills for %(n)s days: choose a later date."),
            rule="recon_old",
            n=str(OLDEST_DAYS),
        )
    return enqueue_day(channel_id, day)


def _has_bill(channel: PayoutChannel | None) -> bool:
    return isinstance(channel, BillProvider | StatementImporter)


def providers() -> list[str]:
    """Ids of the loaded channels that publish a daily bill, or whose imported statements
    count as one (the bank)."""
    return [c.id for c in channels().all() if _has_bill(c)]


def provider(channel_id: str) -> PayoutChannel:
    """The loaded channel with this id, if it has a bill; DomainError otherwise."""
    try:
        channel: PayoutChannel | None = channels().get(channel_id)
    except ChannelError:
        channel = None
    if channel is None or not _has_bill(channel):
        raise DomainError(
            N_("The payment route %(channel)s publishes no bill to reconcile against."),
            rule="no_bill",
            channel=channel_id,
        )
    return channel


class _BillFailed(Exception):
    """The channel's bill failed while it was being read: how the day is to be noted."""

    def __init__(self, status: RunStatus, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _failure(exc: Exception, channel_id: str, day: date) -> _BillFailed:
    if isinstance(exc, BillMissing):
        return _BillFailed(RunStatus.MISSING, str(exc))
    if isinstance(exc, BillRefused):
        return _BillFailed(RunStatus.REFUSED, str(exc))
    if isinstance(exc, ValueError | TypeError):  # a row the contract refuses: untrusted
        return _BillFailed(RunStatus.REFUSED, f"bad row: {exc}")
    # a download that failed: missing, retried
    log.error("fetching the %s bill of %s failed", channel_id, day, exc_info=exc)
    return _BillFailed(RunStatus.MISSING, f"{type(exc).__name__}: {exc}")


def _guarded(rows: Iterable[BillRow], channel_id: str, day: date) -> Iterator[BillRow]:
    """The channel's rows, whatever it raises while reading them told apart from the
    database's own errors (``_BillFailed``)."""
    it = iter(rows)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except Exception as exc:
            raise _failure(exc, channel_id, day) from exc
        yield row


def reconcile_fetched(
    channel_id: str, day: date, rows: Iterable[BillRow], actor: Actor = SYSTEM
) -> Outcome:
    """Reconcile the rows a channel's bill gives as they are read (not held whole); a bill
    that fails part-way is noted as missing or refused with nothing of it recorded."""
    try:
        return reconcile(channel_id, day, _guarded(rows, channel_id, day), actor)
    except _BillFailed as failed:
        return record_failure(channel_id, day, failed.status, failed.detail, actor)


def fetch_and_reconcile(channel_id: str, day: date, actor: Actor = SYSTEM) -> Outcome:
    """Fetch the channel's bill for the Beijing ``day`` and reconcile it."""
    channel = provider(channel_id)
    if not isinstance(channel, BillProvider):  # its imported statements are its bill
        return _from_statements(channel_id, day, actor)
    release()  # no transaction held open while the gateway answers (the download)
    try:
        rows = _fetched(channel, channel_id, day)
    except _BillFailed as failed:
        return record_failure(channel_id, day, failed.status, failed.detail, actor)
    return reconcile_fetched(channel_id, day, rows, actor)


def _from_statements(channel_id: str, day: date, actor: Actor) -> Outcome:
    """The day of a channel whose imported statements are its bill: missing while no
    statement of that day has come and we sent payouts due on it; else its bookings of the
    day matched against the payouts we sent for the day."""
    if not statements.arrived(channel_id, day) and statements.expected(channel_id, day):
        return record_failure(channel_id, day, RunStatus.MISSING, "", actor)
    rows = statements.bill_rows(channel_id, day)
    return reconcile(channel_id, day, rows, actor, DayBasis.SENT)


def statement_imported(channel_id: str, booked: Iterable[date]) -> int:
    """A statement of the channel was imported with bookings on these days: reconcile again
    each of them that is over (a late statement, or one that changes a day matched before);
    how many were queued."""
    today = beijing_day(context.now())
    over = sorted({d for d in booked if d < today and (today - d).days <= OLDEST_DAYS})
    return sum(1 for d in over if enqueue_day(channel_id, d))


def _fetched(channel: BillProvider, channel_id: str, day: date) -> Iterable[BillRow]:
    try:
        return channel.fetch_bill(day)
    except Exception as exc:
        raise _failure(exc, channel_id, day) from exc
