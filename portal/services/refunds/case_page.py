"""Everything one case's page shows, read in at most four statements.

The case with its order (one row, with whether the case has a ticket, a late payout, evidence
files or payouts, and any header figure the page asks for); the timeline with each offer beside
the event that made it; the evidence files and the order's payouts only when there are some. The
page then reads nothing else from the database. The rows are read outside a transaction
(``page_reads``): the case with its flags in one statement, its timeline in the next.

The case, its order, the timeline and the offers are read as plain rows (:class:`Record`, a
row's columns under the model's attribute names), not as ORM objects: the page only shows them,
and turning them into objects was most of the page's reading. The evidence files and the
payouts, when there are some, are ORM objects as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    literal,
    literal_column,
    select,
)
from sqlalchemy.engine import Connection
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
    first = _first_statement(header.query if header else None)
    with page_reads.connection() as conn:
        row = conn.execute(first, params).one_or_none()
        if row is None:
            raise NotFound(N_("Case not found."), rule="case")
        values = tuple(row)
        n_case, n_order = len(_CASE_KEYS), len(_ORDER_KEYS)
        case: Any = Record(**dict(zip(_CASE_KEYS, values[:n_case], strict=True)))
        order = Record(**dict(zip(_ORDER_KEYS, values[n_case : n_case + n_order], strict=True)))
        case.order = order
        ticket, late, with_evidence, with_payouts, header_value = values[n_case + n_order :]
        events, offers = _events(conn, case.id)
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


_FIRST: dict[int, Select[Any]] = {}


def _first_statement(header: Select[int] | None) -> Select[Any]:
    """The case, its order, the flags and the header's figure: built once per kind of header
    (the statements are kept, their values bound: ``case_no``, ``now``)."""
    key = id(header)
    found = _FIRST.get(key)
    if found is not None:
        return found
    cases, orders = RefundCase.__table__, Order.__table__
    case_id = cases.c.id
    now = bindparam("now", type_=Payout.expected_arrival_at.type)
    late_payout = exists().where(
        Payout.case_id == case_id,
        _one_of(Payout.state, payout_states.NOT_ARRIVED),
        Payout.expected_arrival_at < now,
    )
    statement = (
        select(
            *_columns(RefundCase, _CASE_KEYS),
            *_columns(Order, _ORDER_KEYS, "order_"),
            exists().where(Ticket.case_id == case_id),
            late_payout,
            exists().where(Evidence.case_id == case_id),
            exists().where(Payout.order_id == cases.c.order_id),
            header.scalar_subquery() if header is not None else literal(None),
        )
        .select_from(cases.join(orders, orders.c.id == cases.c.order_id))
        .where(cases.c.case_no == bindparam("case_no", type_=RefundCase.case_no.type))
    )
    _FIRST[key] = statement
    return statement


@cache
def _events_statement() -> Select[Any]:
    made = and_(Event.kind == "offer", Offer.id == Event.data["offer_id"].as_integer())
    return (
        select(*_columns(Event, _EVENT_KEYS), *_columns(Offer, _OFFER_KEYS, "offer_"))
        .select_from(Event)
        .outerjoin(Offer, and_(Offer.case_id == Event.case_id, made))
        .where(
            Event.case_id == bindparam("case_id", type_=Integer),
            ~_one_of(Event.kind, STAFF_ONLY),  # the buyer's page
        )
        .order_by(Event.created_at, Event.id)
    )


def _one_of(column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN (...)`` over fixed names (states, kinds) written into the statement's text:
    a list of bound values is expanded into placeholders at every execution."""
    names = sorted(values)
    if not all(_NAME.fullmatch(name) for name in names):
        raise ValueError(f"not plain names: {names}")
    return column.in_([literal_column(f"'{name}'") for name in names])


_NAME = re.compile(r"[a-z_]+")


def _events(conn: Connection, case_id: int) -> tuple[list[Any], list[Record]]:
    """The case's events, oldest first, and the offers their ``offer`` events made (each
    offer is made with one such event, naming it in ``data``)."""
    n_event = len(_EVENT_KEYS)
    events, offers = [], []
    for row in conn.execute(_events_statement(), {"case_id": case_id}):
        values = tuple(row)
        events.append(Record(**dict(zip(_EVENT_KEYS, values[:n_event], strict=True))))
        if row.offer_id is not None:
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
