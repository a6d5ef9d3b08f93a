"""Settlement through a real RQ worker and Redis, against a scriptable gateway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jobs.runtime import set_app
from jobs.worker import NonForkingWorker
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.infra.queue import queue
from portal.models import Event, Payout, RefundCase
from portal.services.actors import Actor
from portal.services.errors import DomainError
from portal.services.refunds import cases
from tests import factories as f
from tests.fakes import signed


@pytest.fixture
def reviewer(app):
    user = f.staff("settler")
    return Actor(Role.REVIEWER, user.id, "R")


def work(app) -> None:
    """Run what is queued in this process, through the worker class the product uses."""
    set_app(app)
    q = queue()
    NonForkingWorker([q], connection=q.connection).work(burst=True)
    db.session.expire_all()


def approved_case(clock, reviewer, amount=None, order=None):
    order = order or f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, amount or order.amount_fen, "x")
    )
    cases.approve(case, reviewer, None, "ok")
    return db.session.get(RefundCase, case.id)


def test_approval_enqueues_after_commit_and_the_worker_refunds(app, clock, reviewer, gateway):
    case = approved_case(clock, reviewer)
    funcs = [job.func_name for job in queue().jobs]
    assert funcs.count("jobs.settlement.settle_payout") == 1  # enqueued once the approval committed
    work(app)
    payout = db.session.scalar(select(Payout))
    assert payout.state == "succeeded" and payout.gateway_reference.startswith("REF-")
    assert db.session.get(RefundCase, case.id).state == "refunded"
    assert gateway.movements == [(payout.idempotency_key, 10000)]
    assert payout.expected_arrival_at == clock() + timedelta(days=2)  # Tue -> Thu, 2 working days


def test_rolled_back_approval_enqueues_nothing(app, clock, reviewer):
    order = f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "x")
    )
    with pytest.raises(DomainError):
        cases.approve(case, reviewer, 20000)
    assert "jobs.settlement.settle_payout" not in [job.func_name for job in queue().jobs]
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


def test_unknown_after_money_moved_is_resolved_by_query_with_the_same_key(
    app, clock, reviewer, gateway
):
    gateway.script = ["unknown_after_move"]
    case = approved_case(clock, reviewer)
    work(app)
    payout = db.session.scalar(select(Payout))
    assert payout.state == "unknown" and payout.next_attempt_at is not None
    from portal.services.money import settlement

    settlement.settle(payout.id)  # the retry the scheduler would run
    db.session.expire_all()
    payout = db.session.scalar(select(Payout))
    assert payout.state == "succeeded"
    assert [c[0] for c in gateway.calls] == ["execute", "query"]
    assert len(gateway.movements) == 1
    assert db.session.get(RefundCase, case.id).state == "refunded"


def test_unknown_before_money_moved_is_resent_with_the_same_key(app, clock, reviewer, gateway):
    from portal.services.money import settlement

    gateway.script = ["unknown"]
    approved_case(clock, reviewer)
    work(app)
    payout = db.session.scalar(select(Payout))
    settlement.settle(payout.id)
    assert gateway.calls == [
        ("execute", payout.idempotency_key),
        ("query", payout.idempotency_key),
        ("execute", payout.idempotency_key),
    ]
    assert len(gateway.movements) == 1


def test_final_failure_shows_the_gateway_message(app, clock, reviewer, gateway):
    gateway.script = ["fail"]
    case = approved_case(clock, reviewer)
    work(app)
    payout = db.session.scalar(select(Payout))
    assert payout.state == "failed" and payout.last_code == "TRADE_CLOSED"
    assert db.session.get(RefundCase, case.id).state == "payout_failed"
    assert gateway.movements == []


def test_running_the_job_twice_pays_once(app, clock, reviewer, gateway):
    from jobs.settlement import settle_payout

    approved_case(clock, reviewer)
    payout_id = db.session.scalar(select(Payout.id))
    set_app(app)
    settle_payout(payout_id)
    settle_payout(payout_id)
    work(app)  # and the queued copy
    assert len(gateway.movements) == 1
    events = db.session.scalar(
        select(func.count()).select_from(Event).where(Event.kind == "payout_succeeded")
    )
    assert events == 1


def test_two_partial_refunds_sum_to_the_paid_amount_and_no_more(app, clock, reviewer, gateway):
    order = f.order(clock(), amount_fen=10000)
    approved_case(clock, reviewer, amount=6000, order=order)
    work(app)
    approved_case(clock, reviewer, amount=4000, order=order)
    work(app)
    assert sorted(a for _, a in gateway.movements) == [4000, 6000]
    with pytest.raises(DomainError, match="already been refunded"):
        cases.apply_for_refund(order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 1, "x"))


def test_sweep_re_enqueues_what_a_lost_job_left_behind(app, clock, reviewer, gateway):
    from jobs.sweeps import sweep_payouts

    approved_case(clock, reviewer)
    queue().empty()  # the job is lost (Redis flushed, worker killed before it ran)
    set_app(app)
    assert sweep_payouts(reschedule=False) == 0  # within the grace period
    clock.advance(minutes=1)
    assert sweep_payouts(reschedule=False) == 1
    work(app)
    assert db.session.scalar(select(Payout.state)) == "succeeded"
    assert sweep_payouts(reschedule=False) == 0


def test_notifications_forward_only_forged_and_mismatched(app, client, clock, reviewer, gateway):
    gateway.script = ["pending"]
    approved_case(clock, reviewer)
    work(app)
    payout = db.session.scalar(select(Payout))
    assert payout.state == "pending"
    key = payout.idempotency_key
    body, headers = signed({"key": key, "status": "succeeded", "amount_fen": 9999})
    assert client.post("/callbacks/fakepay", data=body, headers=headers).status_code == 409
    body, headers = signed({"key": key, "status": "succeeded", "amount_fen": 10000})
    assert (
        client.post(
            "/callbacks/fakepay", data=body, headers={"X-Fake-Signature": "forged"}
        ).status_code
        == 400
    )
    db.session.expire_all()
    assert db.session.scalar(select(Payout.state)) == "pending"
    r = client.post("/callbacks/fakepay", data=body, headers=headers)
    assert r.status_code == 200 and r.data == b"OK"
    r = client.post("/callbacks/fakepay", data=body, headers=headers)  # duplicate: acknowledged
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(Payout.state)) == "succeeded"
    assert (
        db.session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "payout_succeeded")
        )
        == 1
    )
    late_failure, headers = signed({"key": key, "status": "failed", "amount_fen": 10000})
    client.post("/callbacks/fakepay", data=late_failure, headers=headers)
    db.session.expire_all()
    assert db.session.scalar(select(Payout.state)) == "succeeded"  # states only move forward


def test_missing_channel_refuses_approval_and_writes_nothing(app, clock, reviewer):
    order = f.order(clock(), channel="nosuchpay")
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "x")
    )
    with pytest.raises(DomainError, match="not available"):
        cases.approve(case, reviewer)
    assert db.session.get(RefundCase, case.id).state == "submitted"
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


def test_buyer_refund_record_shows_route_arrival_and_late_flag(
    app, browser, clock, reviewer, gateway
):
    from tests.test_buyer_flow import login_order

    gateway.script = ["pending"]
    case = approved_case(clock, reviewer)
    work(app)
    login_order(browser, case.order)
    html = browser.get(f"/orders/{case.order.order_no}").get_data(as_text=True)
    assert "Fake Pay: at once (some banks up to 2 working days)" in html
    assert "2026-03-12" in html  # Tue + 2 working days
    assert 'hx-trigger="every 5s"' in html  # keeps itself fresh while in flight
    assert "has not arrived by its expected date" not in html
    clock.advance(days=3)
    html = browser.get(f"/orders/{case.order.order_no}").get_data(as_text=True)
    assert "has not arrived by its expected date" in html and "support@example.com" in html
    frag = browser.get(f"/orders/{case.order.order_no}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert frag.lstrip().startswith('<section id="refund-record"') and "<html" not in frag


def test_enqueue_once_skips_a_waiting_copy_but_replaces_one_a_killed_worker_lost(app):
    """A sweep does not pile up copies of a waiting job, and is not blocked by a copy that a
    worker took off the queue and died with before the job could release its key."""
    from rq.job import JobStatus

    from portal.infra.queue import enqueue_once

    first = enqueue_once("settle-7", 60, "tests.fakes.noop", 7)
    assert first is not None
    assert enqueue_once("settle-7", 60, "tests.fakes.noop", 7) is None  # still waiting
    q = queue()
    q.remove(first)  # a worker dequeued it ...
    first.set_status(JobStatus.STARTED)  # ... and was SIGKILLed before the job released the key
    second = enqueue_once("settle-7", 60, "tests.fakes.noop", 7)
    assert second is not None and second.id != first.id
    assert [j.id for j in q.jobs] == [second.id]


def test_enqueue_once_replaces_a_copy_a_worker_died_with_before_marking_it_started(app):
    """RQ moves a job to the queue's intermediate list, then marks it started: a worker
    SIGKILLed in between leaves the copy 'queued' in no queue, and a sweep must not wait
    for it (the crash test's payout left 'created' after six sweeps)."""
    from rq.job import JobStatus

    from portal.infra.queue import enqueue_once, redis_connection

    first = enqueue_once("settle-8", 60, "tests.fakes.noop", 8)
    q = queue()
    conn = redis_connection()
    assert conn.lmove(q.key, q.intermediate_queue_key) == first.id.encode()  # the dequeue
    assert first.get_status() == JobStatus.QUEUED  # the worker died here
    second = enqueue_once("settle-8", 60, "tests.fakes.noop", 8)
    assert second is not None and second.id != first.id
    assert [j.id for j in q.jobs] == [second.id]
    assert enqueue_once("settle-8", 60, "tests.fakes.noop", 8) is None  # that one is waiting


def test_enqueue_once_claim_of_a_killed_enqueuer_expires_within_seconds(app, monkeypatch):
    """An enqueuer that dies between claiming the key and writing the job id blocks the key
    for the short claim only, not for the whole ttl."""
    import portal.infra.queue as pq

    conn = pq.redis_connection()
    name = "portal:once:settle-9"

    class Dying:
        def enqueue(self, *a, **kw):
            raise RuntimeError("killed while enqueuing")

    monkeypatch.setattr(pq, "queue", Dying)
    with pytest.raises(RuntimeError):
        pq.enqueue_once("settle-9", 60, "tests.fakes.noop", 9)
    monkeypatch.undo()
    assert conn.get(name) == b""
    assert 0 < conn.ttl(name) <= pq.CLAIM_SECONDS
    assert pq.enqueue_once("settle-9", 60, "tests.fakes.noop", 9) is None  # being enqueued
    conn.delete(name)  # the claim expired
    job = pq.enqueue_once("settle-9", 60, "tests.fakes.noop", 9)
    assert job is not None and conn.get(name) == job.id.encode()
    assert pq.CLAIM_SECONDS < conn.ttl(name) <= 60


def test_asking_again_and_again_writes_one_timeline_entry(app, clock, reviewer, gateway):
    """A gateway that keeps saying "not known yet" changes nothing the timeline shows: the
    payout keeps each answer (attempts, code), the audit trail the one real change."""
    from portal.services.money import settlement

    gateway.script = ["unknown"] * 5
    case = approved_case(clock, reviewer)
    work(app)
    payout = db.session.scalar(select(Payout))
    for _ in range(4):
        clock.advance(minutes=5)
        settlement.settle(payout.id)
    db.session.expire_all()
    payout = db.session.get(Payout, payout.id)
    assert payout.state == "unknown" and payout.attempts == 5 and payout.last_code == "SYSTEM_ERROR"
    kinds = db.session.scalars(
        select(Event.kind).where(Event.case_id == case.id, Event.payout_id == payout.id)
    ).all()
    assert kinds == ["payout_created", "payout_unknown"]
    # the gateway's words are kept for staff, not as the event's reason (which a buyer reads)
    event = db.session.scalar(select(Event).where(Event.kind == "payout_unknown"))
    assert event.reason == "" and event.data["gateway_message"] == "try later"
    # the answer that resolves it is a real change, written once
    settlement.settle(payout.id)
    kinds = db.session.scalars(
        select(Event.kind).where(Event.payout_id == payout.id).order_by(Event.id)
    ).all()
    assert kinds == ["payout_created", "payout_unknown", "payout_succeeded"]
