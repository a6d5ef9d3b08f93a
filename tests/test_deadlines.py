"""Deadlines that run themselves: each rule fires at the right working-day instant across the
2026 Spring Festival (holiday Feb 15-23, make-up working Saturday Feb 14), jobs are idempotent,
and the sweep catches what a stopped scheduler missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from jobs.runtime import set_app
from jobs.worker import NonForkingWorker
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.infra.queue import queue
from portal.models import Event, Notice, Payout, RefundCase
from portal.services.actors import Actor
from portal.services.deadlines import deadline_bulk, deadline_rules
from portal.services.refunds import cases
from tests import factories as f
from tests.test_settlement import work

# Thursday 2026-02-12 10:00 in Beijing
THU_FEB_12 = datetime(2026, 2, 12, 2, 0, tzinfo=UTC)
SAT_FEB_14 = datetime(2026, 2, 14, 2, 0, tzinfo=UTC)  # a make-up working day (调休)
TUE_FEB_24 = datetime(2026, 2, 24, 2, 0, tzinfo=UTC)
ONE_MINUTE = timedelta(minutes=1)


@pytest.fixture
def reviewer(app):
    u = f.staff("deadline-rev")
    return Actor(Role.REVIEWER, u.id, "R")


def new_case(clock):
    order = f.order(clock())
    return cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "x")
    )


def events(case, kind):
    return db.session.scalar(
        select(func.count()).select_from(Event).where(Event.case_id == case.id, Event.kind == kind)
    )


def test_review_reminder_and_escalation_across_the_holiday(app, clock):
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30  # keep the merchant rule out of the way
    clock.set(THU_FEB_12)
    case = new_case(clock)
    assert case.deadline_at == TUE_FEB_24
    assert case.remind_at == SAT_FEB_14  # 1 working day before: the make-up Saturday
    clock.set(SAT_FEB_14 - ONE_MINUTE)
    assert not deadline_rules.fire("review_reminder", case.id)
    clock.set(SAT_FEB_14)
    assert deadline_rules.fire("review_reminder", case.id)
    assert not deadline_rules.fire("review_reminder", case.id)  # the same job twice acts once
    assert events(case, "review_reminder") == 1
    clock.set(TUE_FEB_24 - ONE_MINUTE)  # Feb 23 is still the holiday: nothing escalates
    assert not deadline_rules.fire("review_escalation", case.id)
    clock.set(TUE_FEB_24)
    assert deadline_rules.fire("review_escalation", case.id)
    assert not deadline_rules.fire("review_escalation", case.id)
    c = db.session.get(RefundCase, case.id)
    assert c.escalated_at == TUE_FEB_24 and events(case, "escalated") == 1
    audiences = db.session.scalars(select(Notice.audience).where(Notice.kind == "escalated")).all()
    assert sorted(audiences) == ["buyer", "staff"]  # one case through fire(): both told directly


def test_silent_merchant_is_taken_as_agreeing_at_two_working_days(app, clock):
    clock.set(THU_FEB_12)
    case = new_case(clock)
    assert case.merchant_deadline_at == SAT_FEB_14  # Fri 13 + the make-up Saturday
    clock.set(SAT_FEB_14 - ONE_MINUTE)
    assert not deadline_rules.fire("merchant_silence", case.id)
    clock.set(SAT_FEB_14)
    assert deadline_rules.fire("merchant_silence", case.id)
    c = db.session.get(RefundCase, case.id)
    assert c.state == "refunding" and c.decision_note == ""
    assert c.decision_msg == {"code": "merchant_silent_approved", "params": {}}
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 1
    assert not deadline_rules.fire("merchant_silence", case.id)  # moved on: nothing


def test_merchant_answer_stops_its_clock(app, clock):
    clock.set(THU_FEB_12)
    case = new_case(clock)
    shop = case.order.merchant
    u = f.staff("m1", "merchant", shop.slug)
    from portal.services.refunds import disputes

    disputes.merchant_refuse(case, Actor(Role.MERCHANT, u.id, "m", merchant_id=shop.id), "no")
    clock.set(TUE_FEB_24)
    assert not deadline_rules.fire("merchant_silence", case.id)
    assert db.session.get(RefundCase, case.id).state == "negotiating"


def test_unanswered_request_for_material_closes_the_case(app, clock, reviewer):
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    app.config["REFUND_WINDOW_DAYS"] = 30  # so that the buyer may still apply again at the end
    clock.set(THU_FEB_12)
    case = new_case(clock)
    clock.set(THU_FEB_12 + timedelta(days=1))  # Friday 13th
    cases.request_info(case, reviewer, "chat record please")
    c = db.session.get(RefundCase, case.id)
    wed_feb_25 = datetime(2026, 2, 25, 2, 0, tzinfo=UTC)  # Sat 14, Tue 24, Wed 25
    assert c.deadline_at == wed_feb_25 and c.deadline_kind == "buyer_info"
    clock.set(wed_feb_25 - ONE_MINUTE)
    assert not deadline_rules.fire("info_timeout", case.id)
    clock.set(wed_feb_25)
    assert deadline_rules.fire("info_timeout", case.id)
    c = db.session.get(RefundCase, case.id)
    assert c.state == "closed" and c.open_order_id is None
    notice = db.session.scalars(select(Notice).where(Notice.kind == "info_timeout")).one()
    assert notice.audience == "buyer"
    # and the buyer may apply again
    again = cases.apply_for_refund(
        c.order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "now with chat")
    )
    assert again.state == "submitted"


def test_late_payout_is_flagged_once(app, clock, reviewer, gateway):
    gateway.script = ["pending"]
    case = new_case(clock)
    cases.approve(case, reviewer)
    work(app)
    payout = db.session.scalar(select(Payout))
    clock.set(payout.expected_arrival_at + ONE_MINUTE)
    assert deadline_rules.fire("payout_late", payout.id)
    assert not deadline_rules.fire("payout_late", payout.id)
    kinds = sorted(db.session.scalars(select(Notice.audience).where(Notice.kind == "payout_late")))
    assert kinds == ["buyer", "staff"]


def test_sweep_catches_what_a_stopped_scheduler_missed(app, clock):
    from jobs.sweeps import sweep_deadlines

    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    case = new_case(clock)
    q = queue()
    scheduled = ScheduledJobRegistry(queue=q)
    assert scheduled.count >= 1  # the deadline jobs wait for a scheduler...
    set_app(app)
    NonForkingWorker([q], connection=q.connection).work(burst=True)  # ...that is not running
    db.session.expire_all()
    assert db.session.get(RefundCase, case.id).escalated_at is None
    clock.set(TUE_FEB_24 + timedelta(hours=1))
    assert sweep_deadlines() >= 2  # the reminder and the escalation (set-based)
    work(app)
    c = db.session.get(RefundCase, case.id)
    assert c.escalated_at is not None and c.reminded_at is not None
    # the scheduler comes back: its late jobs fire now and do nothing more
    for job_id in scheduled.get_job_ids():
        scheduled.remove(job_id)
        q.enqueue_job(q.fetch_job(job_id))
    work(app)
    assert events(case, "escalated") == 1 and events(case, "review_reminder") == 1
    assert sweep_deadlines() == 0


def test_sweep_query_is_set_based_over_many_cases(app, clock):
    """One statement per page finds the due cases, in id order (the benchmark measures 100k)."""
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    ids = [new_case(clock).id for _ in range(30)]
    clock.set(TUE_FEB_24)
    for rule in ("review_escalation", "review_reminder"):
        pages = list(deadline_bulk.due_batches(rule, clock(), batch=7))
        assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
        assert [i for p in pages for i in p] == sorted(ids)


def test_bulk_sweep_marks_many_cases_once_with_events_and_notices(app, clock, reviewer, gateway):
    from jobs.sweeps import sweep_deadlines

    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    made = [new_case(clock) for _ in range(12)]
    gateway.script = ["pending"]
    cases.approve(made[0], reviewer)  # one leaves review and has a payout in flight instead
    work(app)
    set_app(app)
    clock.set(TUE_FEB_24 + timedelta(days=5))  # past everything
    assert sweep_deadlines() == 11 + 11 + 1  # reminders, escalations, one late payout
    assert sweep_deadlines() == 0  # run again: nothing more
    kinds = dict(
        db.session.execute(
            select(Event.kind, func.count())
            .where(Event.kind.in_(["review_reminder", "escalated", "payout_late"]))
            .group_by(Event.kind)
        ).all()
    )
    assert kinds == {"review_reminder": 11, "escalated": 11, "payout_late": 1}
    escalated_buyers = db.session.scalar(
        select(func.count())
        .select_from(Notice)
        .where(Notice.kind == "escalated", Notice.audience == "buyer")
    )
    assert escalated_buyers == 11
    buyer_notice = db.session.scalars(
        select(Notice).where(Notice.kind == "escalated", Notice.audience == "buyer")
    ).first()
    assert buyer_notice.params["case_no"].startswith("RF") and buyer_notice.order_id is not None
    # the staff hear of each case, as when its own job fires (tests/test_deadline_paths.py)
    staff = db.session.scalars(
        select(Notice).where(Notice.kind == "escalated", Notice.audience == "staff")
    ).all()
    assert sorted(n.case_id for n in staff) == sorted(c.id for c in made[1:])


def test_periodic_sweep_runs_every_part_and_reschedules_itself(app, clock):
    from jobs.sweeps import sweep

    set_app(app)
    result = sweep()
    assert set(result) == {
        "payouts",
        "deadlines",
        "webhooks",
        "channel_keys",
        "reconciliation",
        "audit_seal",
        "order_sources",
        "retention",
        "rollups",
        "backlog",
    }
    scheduled = ScheduledJobRegistry(queue=queue())
    assert any(job_id.startswith("sweep-") for job_id in scheduled.get_job_ids())
