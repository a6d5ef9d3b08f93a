"""Everything one case's page shows, read in at most four statements.

The case with its order (with whether the case has a ticket, a late payout, evidence files or
payouts, and any header figure the page asks for) and its timeline, each offer beside the event
that made it, in one statement; the evidence files and the order's payouts only when there are
some. The page then reads nothing else from the database. The rows are read outside a
transaction (``page_reads``), so the case and its timeline are read in one statement to agree.

The case, its order, the timeline and the offers are read as plain rows (:class:`Record`, a
row's columns under the model's attribute names), not as ORM objects: the page only shows them,
and turning them into objects was most of the page's reading. The evidence files and the
payouts, when there are some, are ORM objects as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    literal,
    literal_column,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, contains_eager

from portal.domain import payout_states
from portal.domain.offer_states import OfferState
from portal.domain.ticket_states import TicketReason
from portal.models import Event, Evidence, Offer, Order, Payout, RefundCase, Ticket
from portal.services import context, page_reads
from portal.services.errors import NotFound
from portal.services.messaging.notices import Counting
from portal.services.policy_text import N_
from portal.services.refunds.tickets import late_reason
from portal.services.refunds.timeline import STAFF_ONLY


class NotRead(RuntimeError):
    """A page read an attribute its rows were not read with (add the column below)."""


class Record(SimpleNamespace):
    """A row read for a page: the columns the page shows, under the model's attribute names
    (``case.state``, ``order.order_no``), and what the page attached (``case.order``,
    ``case.evidence``). Reading any other attribute raises :class:`NotRead`, not the
    ``AttributeError`` a template would show as nothing."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotRead(f"{name} is not read for this page (portal.services.refunds.case_page)")


@dataclass(frozen=True)
class CasePage:
    """What the case's page shows, loaded (see the module's docstring)."""

    case: Any  # a Record of the case's columns, with ``order`` and ``evidence``
    order: Any  # a Record of the order's columns
    events: list[Any]  # Records of the events' columns
    offers: dict[int, Any]  # Records of the offers' columns
    open_offer: Any | None
    evidence: list[Evidence]
    payouts: list[Payout]
    has_ticket: bool
    late: TicketReason | None  # tickets.REVIEW_LATE, tickets.REFUND_LATE or None
    header: int | None  # the value of the ``header`` column asked for, if one was

    @property
    def thread(self) -> list[Any]:
        """The negotiation thread: messages, offers and accepted offers, in order."""
        return [e for e in self.events if e.kind in ("message", "offer", "offer_accepted")]


def _columns(model: type[Any], keys: tuple[str, ...], prefix: str = "") -> list[Any]:
    """``model``'s columns named by ``keys``, labelled ``prefix`` + the attribute's name."""
    columns = model.__mapper__.columns
    return [columns[key].label(prefix + key) for key in keys]


#: the columns the page shows (and the rules it applies read), by model attribute
_CASE_KEYS = (
    "id",
    "case_no",
    "order_id",
    "state",
    "kind",
    "reason",
    "amount_requested_fen",
    "amount_approved_fen",
    "appeal_count",
    "deadline_at",
    "deadline_kind",
    "decision_msg",
    "decision_note",
    "info_request",
)
_ORDER_KEYS = ("id", "order_no", "erased_at")
_EVENT_KEYS = (
    "id",
    "kind",
    "actor_role",
    "actor_label",
    "to_state",
    "reason",
    "data",
    "created_at",
)
_OFFER_KEYS = ("id", "state", "by_role", "amount_fen")


def load(case_no: str, header: Counting | None = None) -> CasePage:
    """The page of the case numbered ``case_no`` (NotFound if there is none). ``header``: the
    count the page's header shows (the unread notices), read in the same statement."""
    now = context.now()
    params = {"case_no": case_no, "now": now, **(header.params if header else {})}
    with page_reads.connection() as conn:
        rows = conn.execute(_statement(header.query if header else None), params).all()
        if not rows:
            raise NotFound(N_("Case not found."), rule="case")
        n_case, n_order = len(_CASE_KEYS), len(_ORDER_KEYS)
        n_first = n_case + n_order + _FLAGS
        values = tuple(rows[0])
        case: Any = Record(**dict(zip(_CASE_KEYS, values[:n_case], strict=True)))
        order = Record(**dict(zip(_ORDER_KEYS, values[n_case : n_case + n_order], strict=True)))
        case.order = order
        ticket, late, with_evidence, with_payouts, header_value = values[n_case + n_order : n_first]
        events, offers = _timeline(rows, n_first)
        if with_evidence or with_payouts:
            with page_reads.reading(conn) as session:
                case.evidence = _evidence(session, case.id) if with_evidence else []
                payouts = _payouts(session, case.order_id) if with_payouts else []
        else:
            case.evidence, payouts = [], []
    return CasePage(
        case=case,
        order=order,
        events=events,
        offers={o.id: o for o in offers},
        open_offer=next((o for o in offers if o.state == OfferState.OPEN), None),
        evidence=case.evidence,
        payouts=payouts,
        has_ticket=bool(ticket),
        late=late_reason(case, now, bool(late)),
        header=header_value,
    )


#: the first statement's columns after the case's and the order's: a ticket, a late payout,
#: evidence, payouts, the header's figure
_FLAGS = 5

_STATEMENTS: dict[int, Select[Any]] = {}


def _statement(header: Select[int] | None) -> Select[Any]:
    """The page's statement, built once per kind of header (kept, its values bound:
    ``case_no``, ``now``): the case with its order, its flags and the header's figure, once
    (:func:`_first`), joined to each event of its timeline that the buyer sees, oldest first,
    with the offer an ``offer`` event made. A case without such events gives one row, its
    event columns empty."""
    key = id(header)
    found = _STATEMENTS.get(key)
    if found is not None:
        return found
    # the case's row is worked out once, not once per event (PostgreSQL would otherwise fold
    # the flags' subqueries into the join)
    first = _first(header).cte("the_case").prefix_with("MATERIALIZED", dialect="postgresql")
    made = and_(Event.kind == "offer", Offer.id == Event.data["offer_id"].as_integer())
    shown = and_(Event.case_id == first.c.id, ~_one_of(Event.kind, STAFF_ONLY))  # the buyer's
    statement = (
        select(
            *first.c,
            *_columns(Event, _EVENT_KEYS, "event_"),
            *_columns(Offer, _OFFER_KEYS, "offer_"),
        )
        .select_from(first)
        .outerjoin(Event, shown)
        .outerjoin(Offer, and_(Offer.case_id == Event.case_id, made))
        .order_by(Event.created_at, Event.id)
    )
    _STATEMENTS[key] = statement
    return statement


def _first(header: Select[int] | None) -> Select[Any]:
    """The case, its order, the flags and the header's figure, as one row."""
    cases, orders = RefundCase.__table__, Order.__table__
    case_id = cases.c.id
    now = bindparam("now", type_=Payout.expected_arrival_at.type)
    late_payout = exists().where(
        Payout.case_id == case_id,
        _one_of(Payout.state, payout_states.NOT_ARRIVED),
        Payout.expected_arrival_at < now,
    )
    flags = (
        exists().where(Ticket.case_id == case_id),
        late_payout,
        exists().where(Evidence.case_id == case_id),
        exists().where(Payout.order_id == cases.c.order_id),
        header.scalar_subquery() if header is not None else literal(None),
    )
    assert len(flags) == _FLAGS
    return (
        select(
            *_columns(RefundCase, _CASE_KEYS),
            *_columns(Order, _ORDER_KEYS, "the_order_"),
            *(flag.label(f"flag_{n}") for n, flag in enumerate(flags)),
        )
        .select_from(cases.join(orders, orders.c.id == cases.c.order_id))
        .where(cases.c.case_no == bindparam("case_no", type_=RefundCase.case_no.type))
    )


def _one_of(column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN (...)`` over fixed names (states, kinds) written into the statement's text:
    a list of bound values is expanded into placeholders at every execution."""
    names = sorted(values)
    if not all(_NAME.fullmatch(name) for name in names):
        raise ValueError(f"not plain names: {names}")
    return column.in_([literal_column(f"'{name}'") for name in names])


_NAME = re.compile(r"[a-z_]+")


def _timeline(rows: Sequence[Row[Any]], skip: int) -> tuple[list[Any], list[Record]]:
    """The events in ``rows`` (their columns after the first ``skip``), oldest first, and the
    offers their ``offer`` events made (each offer is made with one such event, naming it in
    ``data``)."""
    n_event = len(_EVENT_KEYS)
    events, offers = [], []
    for row in rows:
        values = tuple(row)[skip:]
        if values[0] is None:  # no event: the case's row alone
            continue
        events.append(Record(**dict(zip(_EVENT_KEYS, values[:n_event], strict=True))))
        if values[n_event] is not None:
            offers.append(Record(**dict(zip(_OFFER_KEYS, values[n_event:], strict=True))))
    offers.sort(key=lambda o: o.id)
    return events, offers


def _evidence(session: Session, case_id: int) -> list[Evidence]:
    return list(
        session.scalars(select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.id))
    )


def _payouts(session: Session, order_id: int) -> list[Payout]:
    """The order's payouts (over all its cases), oldest first, each with its case, the case's
    order and the order's payment loaded (where each payout goes reads them)."""
    return list(
        session.scalars(
            select(Payout)
            .join(Payout.case)
            .join(RefundCase.order)
            .outerjoin(Order.payment)
            .options(
                contains_eager(Payout.case)
                .contains_eager(RefundCase.order)
                .contains_eager(Order.payment)
            )
            .where(Payout.order_id == order_id)
            .order_by(Payout.id)
        )
    )
