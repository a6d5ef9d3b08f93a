"""The case lists staff work from: the review queue and a shop's open cases, a page at a time.

Both read the open cases (``open_order_id`` is set exactly while a case is open) in one order:
nearest deadline first, then the cases without a deadline, oldest first. A page is found from
its edge (keyset pagination, never OFFSET), and the two parts of that order are read by two
queries that each walk a partial index on ``(deadline_at, id)`` (or with the shop or the
assignee in front): ``deadline_at IS NULL`` in a sort key would defeat the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.orm import aliased

from portal.domain import case_lists
from portal.domain.case_lists import Assigned, CaseFilter, Cursor, Position
from portal.domain.states import OPEN_STATES, REVIEW_QUEUE_STATES, State
from portal.extensions import db
from portal.models import Merchant, Order, Payment, RefundCase, User
from portal.services import context

#: what the reviewer's queue shows besides the cases waiting for review itself
_ALSO_IN_REVIEW_QUEUE = {State.NEEDS_INFO, State.APPROVED, State.PAYOUT_FAILED}
QUEUE_STATES = frozenset(REVIEW_QUEUE_STATES | _ALSO_IN_REVIEW_QUEUE)
#: the states a shop's list shows: every open state
SHOP_STATES = OPEN_STATES
#: orders a search may match by number or contact (a contact with more is a bulk buyer)
_SEARCH_ORDERS_MAX = 500

_C = RefundCase
_REJECTER = aliased(User)
_ASSIGNEE = aliased(User)


@dataclass(frozen=True)
class Row:
    """One case as a list shows it."""

    id: int
    case_no: str
    state: str
    reason: str
    amount_requested_fen: int
    deadline_at: datetime | None
    appeal_count: int
    order_no: str
    shop: str
    rejected_by_id: int | None
    rejected_by: str | None
    assignee_id: int | None
    assignee: str | None
    risk_level: str  # a RiskLevel as assessed when filed ("": not assessed)

    @property
    def position(self) -> Position:
        """Where this row sits in the list's order."""
        return Position(self.deadline_at, self.id)


@dataclass(frozen=True)
class Page:
    """A page of a list, with the cursors of the pages before and after it (None: none)."""

    rows: list[Row]
    after: str | None  # the next page starts after this
    before: str | None  # the previous page ends before this


def _columns() -> Select:
    return (
        select(
            _C.id,
            _C.case_no,
            _C.state,
            _C.reason,
            _C.amount_requested_fen,
            _C.deadline_at,
            _C.appeal_count,
            Order.order_no,
            Merchant.name.label("shop"),
            _C.rejected_by_id,
            _REJECTER.display_name.label("rejected_by"),
            _C.assignee_id,
            _ASSIGNEE.display_name.label("assignee"),
            _C.risk_level,
        )
        .join(Order, Order.id == _C.order_id)
        .join(Merchant, Merchant.id == _C.merchant_id)
        .outerjoin(_REJECTER, _REJECTER.id == _C.rejected_by_id)
        .outerjoin(_ASSIGNEE, _ASSIGNEE.id == _C.assignee_id)
    )


def _search_conditions(search: str, shop_id: int | None) -> list[ColumnElement[bool]] | None:
    """Cases whose number starts with ``search``, or whose order has it as its number or its
    buyer's contact (exact): each read through an index, never a scan of the table. None
    when no case can match."""
    matches: list[ColumnElement[bool]] = []
    prefix = case_lists.case_no_prefix(search)
    if prefix is not None:
        upper = case_lists.prefix_upper_bound(prefix)
        matches.append(_C.case_no.between(prefix, upper) & _C.case_no.startswith(prefix))
    orders = select(Order.id).where((Order.order_no == search) | (Order.buyer_contact == search))
    if shop_id is not None:
        orders = orders.where(Order.merchant_id == shop_id)
    order_ids = list(db.session.scalars(orders.limit(_SEARCH_ORDERS_MAX)))
    if order_ids:
        matches.append(_C.order_id.in_(order_ids))
    if not matches:
        return None
    return [matches[0] if len(matches) == 1 else matches[0] | matches[1]]


def _conditions(
    flt: CaseFilter, shown: frozenset[State], viewer_id: int | None
) -> list[ColumnElement[bool]] | None:
    """The WHERE of a list: open cases (the partial indexes' own condition), then the filter.
    None when no case can match (nothing to ask the database)."""
    where: list[ColumnElement[bool]] = [_C.open_order_id.is_not(None)]
    if flt.state is not None:
        if flt.state not in shown:
            return None
        where.append(_C.state == str(flt.state))
    elif shown != OPEN_STATES:
        where.append(_C.state.in_(sorted(str(s) for s in shown)))
    if flt.shop_id is not None:
        where.append(_C.merchant_id == flt.shop_id)
    if flt.reason is not None:
        where.append(_C.reason == str(flt.reason))
    if flt.channel:
        paid_by = select(Payment.order_id).where(
            Payment.order_id == _C.order_id, Payment.channel == flt.channel
        )
        where.append(paid_by.exists())
    if flt.min_fen is not None:
        where.append(_C.amount_requested_fen >= flt.min_fen)
    if flt.max_fen is not None:
        where.append(_C.amount_requested_fen <= flt.max_fen)
    if flt.overdue:
        where.append(_C.deadline_at < context.now())
    if flt.appeal:
        where.append(_C.appeal_count > 0)
    if flt.assigned == Assigned.ME:
        if viewer_id is None:
            return None
        where.append(_C.assignee_id == viewer_id)
    elif flt.assigned == Assigned.NOBODY:
        where.append(_C.assignee_id.is_(None))
    if flt.search:
        found = _search_conditions(flt.search, flt.shop_id)
        if found is None:
            return None
        where += found
    return where


def _dated(where: list[ColumnElement[bool]], start: Position | None, backward: bool) -> Select:
    """Cases with a deadline, from ``start`` on (or back), in (deadline_at, id) order."""
    query = _columns().where(*where, _C.deadline_at.is_not(None))
    key = tuple_(_C.deadline_at, _C.id)
    if start is not None and start.deadline_at is not None:
        bound = tuple_(start.deadline_at, start.case_id)
        query = query.where(key < bound if backward else key > bound)
    if backward:
        return query.order_by(_C.deadline_at.desc(), _C.id.desc())
    return query.order_by(_C.deadline_at, _C.id)


def _undated(where: list[ColumnElement[bool]], start: Position | None, backward: bool) -> Select:
    """Cases without a deadline, from ``start`` on (or back), oldest first."""
    query = _columns().where(*where, _C.deadline_at.is_(None))
    if start is not None and start.deadline_at is None:
        query = query.where(_C.id < start.case_id if backward else _C.id > start.case_id)
    if backward:
        return query.order_by(_C.id.desc())
    return query.order_by(_C.id)


def _fetch(query: Select, limit: int) -> list[Row]:
    if limit <= 0:
        return []
    return [Row(**r._asdict()) for r in db.session.execute(query.limit(limit))]


def _read_page(
    where: list[ColumnElement[bool]], cursor: Cursor | None, size: int, dated_only: bool
) -> Page:
    """One page of the list, ``size`` rows; one row more is read to know if more follow."""
    start = cursor.position if cursor else None
    in_undated = start is not None and start.deadline_at is None
    if cursor is not None and cursor.backward:
        rows = _fetch(_undated(where, start, True), size + 1) if in_undated else []
        rows += _fetch(_dated(where, None if in_undated else start, True), size + 1 - len(rows))
        more_before = len(rows) > size
        rows = list(reversed(rows[:size]))
        return Page(
            rows,
            after=case_lists.encode(rows[-1].position) if rows else None,
            before=case_lists.encode(rows[0].position) if rows and more_before else None,
        )
    rows = [] if in_undated else _fetch(_dated(where, start, False), size + 1)
    if not dated_only:
        rows += _fetch(_undated(where, start if in_undated else None, False), size + 1 - len(rows))
    more_after = len(rows) > size
    rows = rows[:size]
    return Page(
        rows,
        after=case_lists.encode(rows[-1].position) if rows and more_after else None,
        before=case_lists.encode(rows[0].position) if rows and start is not None else None,
    )


def count(where: list[ColumnElement[bool]] | None) -> tuple[int, bool]:
    """How many cases match, counted up to the cap (never reading more rows than that)."""
    if where is None:
        return 0, False
    capped = select(_C.id).where(*where).limit(case_lists.COUNT_CAP + 1).subquery()
    found = db.session.scalar(select(func.count()).select_from(capped)) or 0
    return case_lists.capped(found)


@dataclass(frozen=True)
class Listing:
    """A page and the number of cases the filter matches (capped)."""

    page: Page
    total: int
    more_than_total: bool


_EMPTY = Listing(Page([], None, None), 0, False)


def _listing(
    where: list[ColumnElement[bool]] | None, cursor: Cursor | None, size: int, dated_only: bool
) -> Listing:
    if where is None:
        return _EMPTY
    page = _read_page(where, cursor, size, dated_only)
    total, more = count(where)
    return Listing(page, total, more)


def review_queue(
    flt: CaseFilter | None = None,
    cursor: Cursor | None = None,
    viewer_id: int | None = None,
    size: int = case_lists.PAGE_SIZE,
) -> Listing:
    """A page of the cases reviewers look at (or follow up on), nearest deadline first."""
    flt = flt or CaseFilter()
    return _listing(_conditions(flt, QUEUE_STATES, viewer_id), cursor, size, flt.overdue)


def merchant_cases(
    merchant_id: int,
    flt: CaseFilter | None = None,
    cursor: Cursor | None = None,
    size: int = case_lists.PAGE_SIZE,
) -> Listing:
    """A page of the open cases on this shop's orders, nearest deadline first. The shop is
    the viewer's own, whatever ``flt`` names; so is every row, whatever the cursor says."""
    flt = flt or CaseFilter()
    own = CaseFilter(
        shop_id=merchant_id,
        state=flt.state,
        reason=flt.reason,
        overdue=flt.overdue,
        search=flt.search,
    )
    return _listing(_conditions(own, SHOP_STATES, None), cursor, size, own.overdue)


def shop_id(slug: str) -> int | None:
    """The id of the shop with this slug, or None."""
    return db.session.scalar(select(Merchant.id).where(Merchant.slug == slug))


def count_for(flt: CaseFilter, viewer_id: int | None) -> tuple[int, bool]:
    """How many queue cases ``flt`` matches (capped), for the quick filters' counts."""
    return count(_conditions(flt, QUEUE_STATES, viewer_id))
