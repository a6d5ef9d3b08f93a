"""Daily rollups: a range of Beijing days rebuilt from the cases, their events, the orders and
the payouts, set-based. In one transaction the range's rows are deleted and one
``INSERT ... SELECT`` writes them again, so a rebuild run twice leaves the same rows, and a day
rebuilt after a late event (an order imported with an old payment time) takes it in.

Each thing is counted on the Beijing day it happened, under its case's shop, product, reason
and payment channel: an order on the day it was paid, a case on the day it was filed, an
approval, rejection, appeal or automatic approval on the day of its transition, a merchant's
first answer on its day, a payout on the day it arrived (under its own channel).

Whether a first decision came before the case's review deadline is counted in working days on
the portal's calendar, which SQL cannot run: after the ``INSERT ... SELECT``, in the same
transaction, the range's decisions are read and ``decided_on_time`` set per key.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import FunctionElement

from portal.domain import deadlines, rollups
from portal.domain.payout_states import PayoutState
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import Event, Order, Payment, Payout, RefundCase, daily_rollups
from portal.services import context
from portal.services.unit_of_work import commit

log = logging.getLogger(__name__)

KEYS = ("day", "merchant_id", "product_id", "reason", "channel")
COUNTS = (
    "paid",
    "filed",
    "refunded",
    "refunded_fen",
    "rejected",
    "decided",
    "decided_on_time",  # 0 from the INSERT ... SELECT, set by ``_decided_on_time``
    "automatic",
    "auto_reversed",
    "appeals",
    "overturned",
    "answered",
    "arrived",
    "arrived_on_time",
    "refunded_back",
    "rejected_back",
    "unasked",
    "unasked_back",
    *(f"{d}_b{i}" for d in rollups.DURATIONS for i in range(rollups.BUCKETS)),
)
#: a key for PostgreSQL's transaction lock: two rebuilds at once take turns
LOCK_KEY = 23_0001
TRANSITION = "transition"
ZERO: Any = literal_column("0")
ONE: Any = literal_column("1")


class beijing_day(FunctionElement[str]):
    """The Beijing day (YYYY-MM-DD) of a UTC timestamp column."""

    type = String()
    inherit_cache = True


@compiles(beijing_day, "sqlite")
def _day_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return "strftime('%Y-%m-%d', " + compiler.process(element.clauses, **kw) + ", '+8 hours')"


@compiles(beijing_day, "postgresql")
def _day_pg(element: Any, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"to_char(({arg}) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"


class seconds_between(FunctionElement[int]):
    """Whole seconds from the first timestamp to the second (rounded)."""

    type = Integer()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(round((julianday({b}) - julianday({a})) * 86400) AS INTEGER)"


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: Any, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(round(extract(epoch from ({b}) - ({a}))) AS INTEGER)"


class come_back_by(FunctionElement[Any]):
    """A timestamp moved ``COME_BACK_DAYS`` days later."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(come_back_by, "sqlite")
def _by_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    # as text in the form SQLite keeps datetimes in, to compare with them
    arg = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', {arg}, '+{rollups.COME_BACK_DAYS} days')"


@compiles(come_back_by, "postgresql")
def _by_pg(element: Any, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"(({arg}) + interval '{rollups.COME_BACK_DAYS} days')"


def _contact(column: Any) -> Any:
    """A contact as the order lookup compares them (the expression ``ix_orders_contact_normal``
    and ``ix_orders_contact_shop_paid`` index)."""
    return func.lower(func.trim(column))


def came_back(order: Any, after: Any) -> ColumnElement[bool]:
    """Whether the buyer of ``order`` (its contact) paid for another order at the same shop
    within ``COME_BACK_DAYS`` after the moment ``after``. An erased order's contact is gone:
    it neither comes back nor is come back to."""
    later = aliased(Order)
    return and_(
        order.buyer_contact != "",
        exists().where(
            _contact(later.buyer_contact) == _contact(order.buyer_contact),
            later.merchant_id == order.merchant_id,
            later.paid_at > after,
            later.paid_at <= come_back_by(after),
            later.erased_at.is_(None),
        ),
    )


def _one(condition: ColumnElement[bool]) -> Any:
    return case((condition, 1), else_=0)


def _buckets(prefix: str, seconds: Any, counted: ColumnElement[bool]) -> dict[str, Any]:
    """One 0/1 column per bucket: whether ``counted`` holds with a duration in that bucket."""
    out: dict[str, Any] = {}
    low = None
    for i in range(rollups.BUCKETS):
        high = rollups.EDGES_MINUTES[i] * 60 if i < len(rollups.EDGES_MINUTES) else None
        parts = [counted]
        if low is not None:
            parts.append(seconds >= low)
        if high is not None:
            parts.append(seconds < high)
        out[f"{prefix}_b{i}"] = _one(and_(*parts))
        low = high
    return out


def _branch(keys: dict[str, Any], counts: dict[str, Any]) -> Any:
    """One source's rows: the keys, then every count (0 where this source has none)."""
    columns = [keys[k].label(k) for k in KEYS]
    for name in COUNTS:
        value = counts.get(name)
        columns.append((value if value is not None else ZERO).label(name))
    return select(*columns)


def _channel() -> Any:
    return func.coalesce(Payment.channel, "")


def _case_keys(at: Any) -> dict[str, Any]:
    return {
        "day": beijing_day(at),
        "merchant_id": RefundCase.merchant_id,
        "product_id": func.coalesce(Order.product_id, 0),
        "reason": RefundCase.reason,
        "channel": _channel(),
    }


def _cases_from(q: Any) -> Any:
    return q.join(Order, Order.id == RefundCase.order_id).outerjoin(
        Payment, Payment.order_id == Order.id
    )


def _decided() -> ColumnElement[bool]:
    """A transition that is a case's first decision (an appeal's decision is not)."""
    return and_(
        Event.to_state.in_((str(State.APPROVED), str(State.REJECTED))),
        Event.from_state != str(State.APPEALED),
    )


def source(start: Any, end: Any) -> Any:
    """The rows of the days from ``start`` to ``end`` (UTC moments, end excluded), one per key
    with every count summed."""
    asked = exists().where(RefundCase.order_id == Order.id)
    paid = (
        _branch(
            {
                "day": beijing_day(Order.paid_at),
                "merchant_id": Order.merchant_id,
                "product_id": Order.product_id,
                "reason": literal(""),
                "channel": _channel(),
            },
            {
                "paid": ONE,
                "unasked": _one(~asked),
                "unasked_back": _one(and_(~asked, came_back(Order, Order.paid_at))),
            },
        )
        .select_from(Order)
        .outerjoin(Payment, Payment.order_id == Order.id)
        .where(Order.paid_at >= start, Order.paid_at < end)
    )
    filed = _cases_from(
        _branch(_case_keys(RefundCase.created_at), {"filed": ONE}).select_from(RefundCase)
    ).where(RefundCase.created_at >= start, RefundCase.created_at < end)

    to, frm = Event.to_state, Event.from_state
    approved = to == str(State.APPROVED)
    decided = _decided()
    automatic = and_(approved, RefundCase.auto_rule != "")
    taken = seconds_between(RefundCase.created_at, Event.created_at)
    transitions = _cases_from(
        _branch(
            _case_keys(Event.created_at),
            {
                "refunded": _one(approved),
                "refunded_fen": case(
                    (approved, func.coalesce(RefundCase.amount_approved_fen, 0)), else_=0
                ),
                "rejected": _one(to == str(State.REJECTED)),
                "decided": _one(decided),
                "automatic": _one(automatic),
                "auto_reversed": _one(
                    and_(to == str(State.PAYOUT_FAILED), RefundCase.auto_rule != "")
                ),
                "appeals": _one(to == str(State.APPEALED)),
                "overturned": _one(and_(frm == str(State.APPEALED), approved)),
                "refunded_back": _one(and_(approved, came_back(Order, Event.created_at))),
                "rejected_back": _one(
                    and_(to == str(State.REJECTED), came_back(Order, Event.created_at))
                ),
                **_buckets("review", taken, decided),
            },
        )
        .select_from(Event)
        .join(RefundCase, RefundCase.id == Event.case_id)
    ).where(Event.kind == TRANSITION, Event.created_at >= start, Event.created_at < end)

    # the merchant's first answer on a case (any event the shop's staff wrote), on its day
    answered_cases = select(Event.case_id).where(
        Event.actor_role == str(Role.MERCHANT),
        Event.case_id.is_not(None),
        Event.created_at >= start,
        Event.created_at < end,
    )
    first = (
        select(Event.case_id.label("case_id"), func.min(Event.created_at).label("at"))
        .where(Event.actor_role == str(Role.MERCHANT), Event.case_id.in_(answered_cases))
        .group_by(Event.case_id)
        .subquery()
    )
    answers = _cases_from(
        _branch(
            _case_keys(first.c.at),
            {
                "answered": ONE,
                **_buckets("answer", seconds_between(RefundCase.created_at, first.c.at), true()),
            },
        )
        .select_from(first)
        .join(RefundCase, RefundCase.id == first.c.case_id)
    ).where(first.c.at >= start, first.c.at < end)

    arrived = Payout.state == str(PayoutState.SUCCEEDED)
    on_time = or_(
        Payout.expected_arrival_at.is_(None), Payout.settled_at <= Payout.expected_arrival_at
    )
    payouts = (
        _branch(
            {**_case_keys(Payout.settled_at), "channel": Payout.channel},
            {
                "arrived": ONE,
                "arrived_on_time": _one(on_time),
                **_buckets("payout", seconds_between(Payout.created_at, Payout.settled_at), true()),
            },
        )
        .select_from(Payout)
        .join(RefundCase, RefundCase.id == Payout.case_id)
        .join(Order, Order.id == RefundCase.order_id)
        .where(arrived, Payout.settled_at >= start, Payout.settled_at < end)
    )
    rows = union_all(paid, filed, transitions, answers, payouts).subquery()
    return select(
        *(rows.c[k] for k in KEYS),
        *(cast(func.sum(rows.c[n]), rollups_type(n)).label(n) for n in COUNTS),
    ).group_by(*(rows.c[k] for k in KEYS))


#: the event an order's arrival writes (``portal.services.integration.ingest``)
ORDER_RECEIVED = "order_received"


def late_days(since: datetime, today: date) -> list[date]:
    """Days before ``today`` on which orders received since ``since`` (through the API, an
    import or a shop's order source) were paid: their rollups miss them until rebuilt."""
    start = rollups.day_bounds(today, today)[0]
    rows = db.session.scalars(
        select(beijing_day(Order.paid_at))
        .select_from(Event)
        .join(Order, Order.id == Event.order_id)
        .where(Event.kind == ORDER_RECEIVED, Event.created_at >= since, Order.paid_at < start)
        .distinct()
    )
    return sorted(d for d in (rollups.parse_day(str(r)) for r in rows) if d is not None)


def rollups_type(name: str) -> Any:
    """The SQL type a count is summed into (amounts are 64-bit)."""
    return daily_rollups.c[name].type


def rebuild(first: date, last: date) -> int:
    """Rebuild the rollups of the Beijing days ``first`` to ``last``; returns the rows written.
    Commits."""
    if last < first:
        return 0
    start, end = rollups.day_bounds(first, last)

    def work() -> int:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
        db.session.execute(
            delete(daily_rollups).where(
                daily_rollups.c.day >= first.isoformat(),
                daily_rollups.c.day <= last.isoformat(),
            )
        )
        result = db.session.execute(
            insert(daily_rollups)
            .from_select([*KEYS, *COUNTS], source(start, end))
            .execution_options(preserve_rowcount=True)  # an INSERT's count, on every driver
        )
        written = int(result.rowcount or 0)  # type: ignore[attr-defined]
        _decided_on_time(start, end)
        return written

    written = commit(work)
    log.info("rollups rebuilt from %s to %s: %s rows", first, last, written)
    return written


def _decided_on_time(start: datetime, end: datetime) -> None:
    """Set ``decided_on_time`` on the rows just written: the first decisions of the days from
    ``start`` to ``end`` made before the case's review deadline, counted as a case's deadline
    is (``portal.domain.deadlines``: the configured review working days on the portal's
    calendar, from filing), which SQL cannot count. One read of the range's decisions, one
    UPDATE per key that has any (executemany)."""
    calendar = context.calendar()
    days = deadlines.Rules.from_config(context.setting).review_working_days
    decisions = _cases_from(
        select(
            *(_case_keys(Event.created_at)[k] for k in KEYS),
            RefundCase.created_at,
            Event.created_at,
        )
        .select_from(Event)
        .join(RefundCase, RefundCase.id == Event.case_id)
    ).where(Event.kind == TRANSITION, _decided(), Event.created_at >= start, Event.created_at < end)
    on_time: Counter[tuple[Any, ...]] = Counter()
    for *key, filed_at, decided_at in db.session.execute(decisions):
        if decided_at < calendar.add_working_days(filed_at, days):
            on_time[tuple(key)] += 1
    if not on_time:
        return
    t = daily_rollups
    rows = [{f"k_{k}": v for k, v in zip(KEYS, key, strict=True)} for key in on_time]
    db.session.execute(
        update(t)
        .where(*(t.c[k] == bindparam(f"k_{k}") for k in KEYS))
        .values(decided_on_time=bindparam("n")),
        [{**row, "n": n} for row, n in zip(rows, on_time.values(), strict=True)],
    )
