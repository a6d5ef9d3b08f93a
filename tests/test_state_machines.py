"""The payout, freeze, offer and ticket state machines: each table refuses every move it does
not list, and the one way each entity changes state checks it, guards the update and writes
the audit event."""

from __future__ import annotations

import enum
from itertools import product

import pytest
from sqlalchemy import select

from portal.domain import freeze_states, offer_states, payout_states, states, ticket_states
from portal.domain.freeze_states import FreezeState
from portal.domain.offer_states import OfferState
from portal.domain.payout_states import PayoutState
from portal.domain.policy import Kind, Reason
from portal.domain.state_table import IllegalMove
from portal.domain.states import Role, State
from portal.domain.ticket_states import TicketState
from portal.extensions import db
from portal.models import Event, Payout, RefundCase, Ticket, TicketMessage
from portal.services.actors import BUYER, SYSTEM, Actor
from portal.services.refunds import cases, tickets
from portal.services.refunds.transitions import move_payout
from tests import factories as f

#: (module, enum, the states a row is created in)
MACHINES = [
    (payout_states, PayoutState, {PayoutState.CREATED, PayoutState.SUCCEEDED}),
    (freeze_states, FreezeState, {FreezeState.FROZEN}),
    (offer_states, OfferState, {OfferState.OPEN}),
    (ticket_states, TicketState, {TicketState.OPEN}),
]
IDS = [m[1].__name__ for m in MACHINES]


def every_move() -> list[tuple[object, enum.StrEnum, enum.StrEnum]]:
    return [
        pytest.param(module, frm, to, id=f"{cls.__name__}:{frm}->{to}")
        for module, cls, _ in MACHINES
        for frm, to in product(cls, cls)
    ]


@pytest.mark.parametrize(("module", "frm", "to"), every_move())
def test_the_table_decides_every_move(module, frm, to):
    """Exhaustive: a move in the table passes, every other one raises IllegalMove."""
    if to in module.TRANSITIONS[frm]:
        module.check(frm, to)
    else:
        with pytest.raises(IllegalMove) as exc:
            module.check(frm, to)
        assert (exc.value.frm, exc.value.to) == (frm, to)


@pytest.mark.parametrize(("module", "cls", "initial"), MACHINES, ids=IDS)
def test_every_state_has_a_row_and_is_reachable(module, cls, initial):
    assert set(module.TRANSITIONS) == set(cls)
    assert all(isinstance(to, cls) for targets in module.TRANSITIONS.values() for to in targets)
    seen, todo = set(initial), list(initial)
    while todo:
        for to in module.TRANSITIONS[todo.pop()]:
            if to not in seen:
                seen.add(to)
                todo.append(to)
    assert seen == set(cls)


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (PayoutState.SUCCEEDED, PayoutState.FAILED),  # states only move forward
        (PayoutState.SUCCEEDED, PayoutState.CREATED),  # a paid refund is never sent again
        (PayoutState.FAILED, PayoutState.SUCCEEDED),  # a late answer does not undo a refusal
        (PayoutState.CREATED, PayoutState.RETURNED),  # only a booked transfer comes back
        (PayoutState.RETURNED, PayoutState.SUCCEEDED),
        (PayoutState.CREATED, PayoutState.CREATED),
    ],
)
def test_payout_moves_the_invariants_forbid(frm, to):
    assert not payout_states.allowed(frm, to)
    with pytest.raises(IllegalMove):
        payout_states.check(frm, to)


@pytest.mark.parametrize(
    ("module", "terminal"),
    [
        (freeze_states, {FreezeState.RELEASED, FreezeState.APPLIED}),
        (offer_states, {OfferState.ACCEPTED, OfferState.COUNTERED}),
    ],
)
def test_terminal_states_have_no_way_out(module, terminal):
    assert {s for s, targets in module.TRANSITIONS.items() if not targets} == terminal


def test_payout_groups_partition_and_nest():
    every = set(PayoutState)
    assert payout_states.IN_FLIGHT | payout_states.HELD | payout_states.FINAL == every
    assert not payout_states.IN_FLIGHT & payout_states.FINAL
    assert not payout_states.HELD & (payout_states.IN_FLIGHT | payout_states.FINAL)
    assert payout_states.UNRESOLVED < payout_states.IN_FLIGHT
    assert payout_states.NEEDS_OPERATOR < payout_states.FINAL
    # money held by the channel (ABNORMAL) still counts against what is refundable
    assert payout_states.COMMITTED == (
        payout_states.IN_FLIGHT | payout_states.HELD | {PayoutState.SUCCEEDED}
    )
    assert payout_states.NOT_ARRIVED == every - {PayoutState.SUCCEEDED}
    # nothing leaves a final state but by an operator's retry or a bank's return
    for frm in payout_states.FINAL:
        assert payout_states.TRANSITIONS[frm] <= {PayoutState.CREATED, PayoutState.RETURNED}
    # ABNORMAL is not final: redirected (pending), settled, closed or set aside (failed);
    # a query that times out never turns it into unknown
    assert payout_states.TRANSITIONS[PayoutState.ABNORMAL] == {
        PayoutState.PENDING,
        PayoutState.SUCCEEDED,
        PayoutState.FAILED,
    }
    for frm in payout_states.IN_FLIGHT:
        assert PayoutState.ABNORMAL in payout_states.TRANSITIONS[frm]


def test_case_groups_are_case_states():
    assert states.DECIDED_STATES <= set(State)
    assert states.REVIEW_QUEUE_STATES <= states.OPEN_STATES


def test_ticket_reply_whose_turn():
    assert ticket_states.after_reply(by_buyer=True) == TicketState.OPEN
    assert ticket_states.after_reply(by_buyer=False) == TicketState.ANSWERED


# --- the one way each entity changes state, through the services ---------------------------


@pytest.fixture
def reviewer(app):
    return Actor(Role.REVIEWER, f.staff("machines").id, "R")


def approved(clock, reviewer) -> RefundCase:
    order = f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, order.amount_fen, "x")
    )
    cases.approve(case, reviewer, None, "ok")
    return db.session.get(RefundCase, case.id)


def test_a_payout_move_from_a_stale_state_changes_nothing(app, clock, reviewer):
    case = approved(clock, reviewer)
    payout = db.session.scalar(select(Payout).where(Payout.case_id == case.id))
    assert payout.state == PayoutState.CREATED
    before = db.session.scalar(select(db.func.count()).select_from(Event))
    # read as pending, but it is still created: the guarded update touches nothing
    moved = move_payout(payout.id, PayoutState.PENDING, PayoutState.SUCCEEDED, SYSTEM, case=case)
    assert moved is False
    assert db.session.scalar(select(Payout.state).where(Payout.id == payout.id)) == "created"
    assert db.session.scalar(select(db.func.count()).select_from(Event)) == before
    db.session.rollback()


def test_an_illegal_payout_move_is_refused_before_any_write(app, clock, reviewer):
    case = approved(clock, reviewer)
    payout_id = db.session.scalar(select(Payout.id).where(Payout.case_id == case.id))
    with pytest.raises(IllegalMove):
        move_payout(payout_id, PayoutState.CREATED, PayoutState.RETURNED, SYSTEM, case=case)
    assert db.session.scalar(select(Payout.state).where(Payout.id == payout_id)) == "created"
    db.session.rollback()


def test_a_payout_move_writes_its_event_with_from_and_to(app, clock, reviewer):
    case = approved(clock, reviewer)
    payout_id = db.session.scalar(select(Payout.id).where(Payout.case_id == case.id))
    assert move_payout(payout_id, PayoutState.CREATED, PayoutState.PENDING, SYSTEM, case=case)
    db.session.commit()
    event = db.session.scalar(select(Event).where(Event.kind == "payout_pending"))
    assert (event.payout_id, event.case_id, event.order_id) == (payout_id, case.id, case.order_id)
    assert (event.from_state, event.to_state) == ("created", "pending")


def test_ticket_replies_move_the_ticket_and_write_events(app, clock, reviewer):
    case = approved(clock, reviewer)
    ticket = Ticket(case_id=case.id, order_id=case.order_id, reason=tickets.REFUND_LATE)
    db.session.add(ticket)
    db.session.commit()
    tickets.reply(ticket.id, BUYER, "still waiting")  # open -> open: no move, no event
    tickets.reply(ticket.id, reviewer, "on its way")
    assert db.session.get(Ticket, ticket.id).state == TicketState.ANSWERED
    tickets.reply(ticket.id, BUYER, "not yet")
    assert db.session.get(Ticket, ticket.id).state == TicketState.OPEN
    moves = db.session.execute(
        select(Event.kind, Event.from_state, Event.to_state, Event.actor_role)
        .where(Event.kind.like("ticket_%"))
        .order_by(Event.id)
    ).all()
    assert [tuple(m) for m in moves] == [
        ("ticket_answered", "open", "answered", "reviewer"),
        ("ticket_open", "answered", "open", "buyer"),
    ]
    assert db.session.scalar(select(db.func.count()).select_from(TicketMessage)) == 3
