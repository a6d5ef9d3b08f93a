"""Money reported moved for a payout held as failed or paid another way: raised, never dropped."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Notice, Payout
from portal.services.actors import Actor
from portal.services.money import payout_ops
from tests import factories as f
from tests.fakes import signed
from tests.test_settlement import approved_case, work


@pytest.fixture
def reviewer(app):
    return Actor(Role.REVIEWER, f.staff("late").id, "R")


def _failed_payout(app, clock, reviewer, gateway):
    gateway.script = ["fail"]
    approved_case(clock, reviewer)
    work(app)
    payout = db.session.scalar(select(Payout))
    assert payout.state == "failed"
    return payout.id, payout.idempotency_key


def _late(client, key, reference="GW-REF-1"):
    body, headers = signed(
        {"key": key, "status": "succeeded", "amount_fen": 10000, "ref": reference}
    )
    return client.post("/callbacks/fakepay", data=body, headers=headers)


def _raised():
    db.session.expire_all()
    events = db.session.scalars(select(Event).where(Event.kind == "payout_late_success")).all()
    notices = db.session.scalars(
        select(Notice).where(Notice.kind == "possible_double_payment")
    ).all()
    return events, notices


def test_late_success_after_paid_another_way_is_raised_once(app, client, clock, reviewer, gateway):
    payout_id, key = _failed_payout(app, clock, reviewer, gateway)
    payout_ops.pay_another_way(payout_id, reviewer, "bank transfer", "card closed; paid by hand")
    r = _late(client, key)
    assert r.status_code in (200, 204)  # recorded, so acknowledged: the gateway stops resending
    events, notices = _raised()
    assert len(events) == 1 and len(notices) == 1
    assert events[0].payout_id == payout_id and events[0].from_state == "failed"
    assert notices[0].audience == "staff"
    # the same notification delivered again: acknowledged, no second effect
    assert _late(client, key).status_code in (200, 204)
    events, notices = _raised()
    assert len(events) == 1 and len(notices) == 1
    db.session.expire_all()
    assert db.session.get(Payout, payout_id).state == "failed"  # not silently rewritten


def test_late_success_after_failure_found_by_query_is_raised(app, clock, reviewer, gateway):
    from portal.plugins.channels import RefundResult, ResultStatus
    from portal.services.money import settlement

    payout_id, _ = _failed_payout(app, clock, reviewer, gateway)
    result = RefundResult(ResultStatus.SUCCEEDED, "GW-Q-1", message="query says paid")
    settlement.apply_result(payout_id, result, source="call")
    events, notices = _raised()
    assert [e.data["reference"] for e in events] == ["GW-Q-1"] and len(notices) == 1
    assert db.session.get(Payout, payout_id).state == "failed"
