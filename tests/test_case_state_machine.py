"""Random sequences of case actions against the real services and database.

Invariants: refunded (and in flight) never exceeds what was paid; every change that
happened has exactly one transition event; a refused action writes nothing; one open
case per order.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Order, Payout, RefundCase
from portal.plugins.channels import RefundResult, ResultStatus
from portal.services.actors import Actor
from portal.services.errors import DomainError
from portal.services.money import settlement
from portal.services.refunds import cases
from tests import factories as f


def test_case_state_machine(app, clock):
    reviewer_user = f.staff("sm-reviewer")
    reviewer = Actor(Role.REVIEWER, reviewer_user.id, "R")

    class CaseMachine(RuleBasedStateMachine):
        orders = Bundle("orders")

        def __init__(self) -> None:
            super().__init__()
            self.order_ids: list[int] = []
            self.case_ids: list[int] = []
            self.expected_transitions: dict[int, int] = {}

        def _events(self) -> int:
            return db.session.scalar(select(func.count()).select_from(Event))

        def _attempt(self, case_id: int | None, fn, transitions: int) -> None:
            before = self._events()
            try:
                fn()
            except DomainError:
                db.session.rollback()
                assert self._events() == before  # refused: nothing written
                return
            if case_id is not None:
                self.expected_transitions[case_id] = (
                    self.expected_transitions.get(case_id, 0) + transitions
                )

        @initialize(target=orders)
        def first_order(self):
            return self.new_order_(3000)

        @rule(target=orders, amount=st.integers(min_value=1, max_value=50000))
        def new_order(self, amount):
            return self.new_order_(amount)

        def new_order_(self, amount):
            order = f.order(clock(), amount_fen=amount)
            self.order_ids.append(order.id)
            return order.id

        @rule(
            order_id=orders,
            share=st.floats(min_value=0.01, max_value=1.2),
            kind=st.sampled_from(list(Kind)),
        )
        def apply(self, order_id, share, kind):
            order = db.session.get(Order, order_id)
            amount = max(1, int(order.amount_fen * share))
            box = {}

            def go():
                box["case"] = cases.apply_for_refund(
                    order, cases.ApplyInput(kind, Reason.UNUSABLE, amount, "broken")
                )

            self._attempt(None, go, 0)
            if "case" in box:
                self.case_ids.append(box["case"].id)
                self.expected_transitions[box["case"].id] = 0

        def _case(self, data):
            if not self.case_ids:
                return None
            return db.session.get(RefundCase, data.draw(st.sampled_from(self.case_ids)))

        @rule(data=st.data(), share=st.floats(min_value=0.01, max_value=1.5))
        def approve(self, data, share):
            case = self._case(data)
            if case is None:
                return
            amount = max(1, int(case.amount_requested_fen * share))
            steps = 1 if case.kind == "return_and_refund" else 2
            self._attempt(case.id, lambda: cases.approve(case, reviewer, amount, ""), steps)

        @rule(data=st.data())
        def confirm_return(self, data):
            case = self._case(data)
            if case is not None:
                self._attempt(case.id, lambda: cases.confirm_return(case, reviewer), 1)

        @rule(data=st.data())
        def reject(self, data):
            case = self._case(data)
            if case is not None:
                self._attempt(case.id, lambda: cases.reject(case, reviewer, "no"), 1)

        @rule(data=st.data())
        def withdraw(self, data):
            case = self._case(data)
            if case is not None:
                self._attempt(case.id, lambda: cases.withdraw(case), 1)

        @rule(data=st.data())
        def ask_and_answer(self, data):
            case = self._case(data)
            if case is None:
                return
            self._attempt(case.id, lambda: cases.request_info(case, reviewer, "more"), 1)
            self._attempt(case.id, lambda: cases.answer_info_request(case, "here", []), 1)

        @rule(
            data=st.data(),
            status=st.sampled_from(
                [ResultStatus.SUCCEEDED, ResultStatus.FAILED, ResultStatus.UNKNOWN]
            ),
        )
        def gateway_answers(self, data, status):
            ids = db.session.scalars(
                select(Payout.id).where(Payout.order_id.in_(self.order_ids)).order_by(Payout.id)
            ).all()
            if not ids:
                return
            payout = db.session.get(Payout, data.draw(st.sampled_from(ids)))
            case_state = payout.case.state
            will_move = (
                payout.state not in ("succeeded", "failed")
                and case_state == "refunding"
                and status != ResultStatus.UNKNOWN
            )
            settlement.apply_result(payout.id, RefundResult(status, "GW", "sim"), source="test")
            if will_move:
                self.expected_transitions[payout.case_id] += 1

        @invariant()
        def never_more_than_paid(self):
            for order_id in self.order_ids:
                order = db.session.get(Order, order_id)
                succeeded = db.session.scalar(
                    select(func.coalesce(func.sum(Payout.amount_fen), 0)).where(
                        Payout.order_id == order_id, Payout.state == "succeeded"
                    )
                )
                committed = db.session.scalar(
                    select(func.coalesce(func.sum(Payout.amount_fen), 0)).where(
                        Payout.order_id == order_id, Payout.state != "failed"
                    )
                )
                assert succeeded <= committed <= order.payment.captured_fen

        @invariant()
        def no_event_lost(self):
            for case_id, expected in self.expected_transitions.items():
                n = db.session.scalar(
                    select(func.count())
                    .select_from(Event)
                    .where(Event.case_id == case_id, Event.kind == "transition")
                )
                assert n == expected, (case_id, n, expected)

        @invariant()
        def one_open_case_per_order(self):
            rows = db.session.execute(
                select(RefundCase.order_id, func.count())
                .where(RefundCase.open_order_id.is_not(None))
                .group_by(RefundCase.order_id)
            ).all()
            assert all(count == 1 for _, count in rows)

    run_state_machine_as_test(
        CaseMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
