"""Everything one case's page shows, read in at most four statements.

The case with its order and the order's payment (one row, with whether the case has a ticket,
a late payout, evidence files or payouts, and any header figure the page asks for); the
timeline with each offer beside the event that made it; the evidence files and the order's
payouts only when there are some. The page then reads nothing else from the database. The
rows are read outside a transaction (``page_reads``): the case with its flags in one statement,
its timeline in the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, exists, literal, select
from sqlalchemy.orm import Session, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

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


@dataclass(frozen=True)
class CasePage:
    """What the case's page shows, loaded (see the module's docstring)."""

    case: RefundCase
    order: Order
    events: list[Event]
    offers: dict[int, Offer]
    open_offer: Offer | None
    evidence: list[Evidence]
    payouts: list[Payout]
    has_ticket: bool
    late: TicketReason | None  # tickets.REVIEW_LATE, tickets.REFUND_LATE or None
    header: int | None  # the value of the ``header`` column asked for, if one was

    @property
    def thread(self) -> list[Event]:
        """The negotiation thread: messages, offers and accepted offers, in order."""
        return [e for e in self.events if e.kind in ("message", "offer", "offer_accepted")]


def load(case_no: str, header: Counting | None = None) -> CasePage:
    """The page of the case numbered ``case_no`` (NotFound if there is none). ``header``: the
    count the page's header shows (the unread notices), read in the same statement."""
    now = context.now()
    params = {"case_no": case_no, "now": now, **(header.params if header else {})}
    first = _first_statement(header.query if header else None)
    with page_reads.reading() as session:
        row = session.execute(first, params).one_or_none()
        if row is None:
            raise NotFound(N_("Case not found."), rule="case")
        case, ticket, late, with_evidence, with_payouts, header_value = row
        events, offers = _events(session, case)
        evidence = _evidence(session, case) if with_evidence else _no_evidence(case)
        payouts = _payouts(session, case.order_id) if with_payouts else []
    return CasePage(
        case=case,
        order=case.order,
        events=events,
        offers={o.id: o for o in offers},
        open_offer=next((o for o in offers if o.state == OfferState.OPEN), None),
        evidence=evidence,
        payouts=payouts,
        has_ticket=bool(ticket),
        late=late_reason(case, now, bool(late)),
        header=header_value,
    )


_FIRST: dict[int, Select[Any]] = {}


def _first_statement(header: Select[int] | None) -> Select[Any]:
    """The case, its order and payment, the flags and the header's figure: built once per kind
    of header (the statements are kept, their values bound: ``case_no``, ``now``)."""
    key = id(header)
    found = _FIRST.get(key)
    if found is not None:
        return found
    case_id = RefundCase.id
    now = bindparam("now", type_=Payout.expected_arrival_at.type)
    late_payout = exists().where(
        Payout.case_id == case_id,
        Payout.state.in_(sorted(payout_states.NOT_ARRIVED)),
        Payout.expected_arrival_at < now,
    )
    statement = (
        select(
            RefundCase,
            exists().where(Ticket.case_id == case_id),
            late_payout,
            exists().where(Evidence.case_id == case_id),
            exists().where(Payout.order_id == RefundCase.order_id),
            header.scalar_subquery() if header is not None else literal(None),
        )
        .join(RefundCase.order)
        .outerjoin(Order.payment)
        .options(contains_eager(RefundCase.order).contains_eager(Order.payment))
        .where(RefundCase.case_no == bindparam("case_no", type_=RefundCase.case_no.type))
    )
    _FIRST[key] = statement
    return statement


@cache
def _events_statement() -> Select[Event, Offer]:
    made = and_(Event.kind == "offer", Offer.id == Event.data["offer_id"].as_integer())
    return (
        select(Event, Offer)
        .outerjoin(Offer, and_(Offer.case_id == Event.case_id, made))
        .where(
            Event.case_id == bindparam("case_id", type_=Integer),
            Event.kind.not_in(sorted(STAFF_ONLY)),  # the buyer's page
        )
        .order_by(Event.created_at, Event.id)
    )


def _events(session: Session, case: RefundCase) -> tuple[list[Event], list[Offer]]:
    """The case's events, oldest first, and the offers their ``offer`` events made (each
    offer is made with one such event, naming it in ``data``)."""
    rows = session.execute(_events_statement(), {"case_id": case.id}).all()
    offers = sorted((o for _, o in rows if o is not None), key=lambda o: o.id)
    return [e for e, _ in rows], offers


def _evidence(session: Session, case: RefundCase) -> list[Evidence]:
    files = list(
        session.scalars(select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id))
    )
    set_committed_value(case, "evidence", files)  # ``case.evidence`` reads these, no query
    return files


def _no_evidence(case: RefundCase) -> list[Evidence]:
    set_committed_value(case, "evidence", [])
    return []


def _payouts(session: Session, order_id: int) -> list[Payout]:
    """The order's payouts (over all its cases), oldest first, each with its case loaded."""
    return list(
        session.scalars(
            select(Payout)
            .join(Payout.case)
            .options(contains_eager(Payout.case))
            .where(Payout.order_id == order_id)
            .order_by(Payout.id)
        )
    )
