"""Each deadline rule fires the same way by both paths: the same situation built twice, fired
once by the per-case job path and once by the sweep's set-based path, writes the same events
(kind, params, actor), notices and webhook deliveries (``payout.late`` included); each path run
twice acts once; and the sweep's statements per page do not grow with the number of rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Integer, cast, func, null, select, update
from sqlalchemy import event as sa_event

from jobs.deadlines import fire_for_case
from jobs.runtime import set_app
from jobs.sweeps import sweep_deadlines
from portal.domain.notes import Note
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Notice, Order, Payout, RefundCase, WebhookDelivery
from portal.services.actors import SYSTEM, Actor
from portal.services.deadlines import deadline_bulk, deadline_rules
from portal.services.integration import webhooks
from portal.services.messaging import notices as inbox
from portal.services.refunds import cases, transitions
from tests import factories as f
from tests.conftest import PG_URL
from tests.pg_locks import until_blocked
from tests.test_settlement import work
from tests.test_webhooks import Receiver

THU_FEB_12 = datetime(2026, 2, 12, 2, 0, tzinfo=UTC)
SAT_FEB_14 = datetime(2026, 2, 14, 2, 0, tzinfo=UTC)  # a make-up working day (调休)
TUE_FEB_24 = datetime(2026, 2, 24, 2, 0, tzinfo=UTC)
WED_FEB_25 = datetime(2026, 2, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def receiver(app):
    app.config["WEBHOOKS_ALLOW_LOCAL"] = True  # the receiver listens on 127.0.0.1
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def reviewer(app):
    u = f.staff("paths-rev")
    return Actor(Role.REVIEWER, u.id, "R")


@dataclass
class Situation:
    """One case (and its payout, if any) that a rule is about to fire for."""

    case_id: int
    row_id: int  # what the rule is about: the case, or the payout


def open_case(clock, receiver) -> RefundCase:
    """A submitted case whose merchant has a webhook endpoint."""
    order = f.order(clock())
    webhooks.add_endpoint(order.merchant_id, receiver.url)
    return cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "x")
    )


def reminder(app, clock, receiver, reviewer, gateway) -> tuple[Situation, datetime]:
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    case = open_case(clock, receiver)
    return Situation(case.id, case.id), SAT_FEB_14


def escalation(app, clock, receiver, reviewer, gateway) -> tuple[Situation, datetime]:
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    app.config["REVIEW_REMINDER_WORKING_DAYS"] = 0  # no reminder: the escalation alone is due
    clock.set(THU_FEB_12)
    case = open_case(clock, receiver)
    return Situation(case.id, case.id), TUE_FEB_24


def merchant_silence(app, clock, receiver, reviewer, gateway) -> tuple[Situation, datetime]:
    app.config["REVIEW_REMINDER_WORKING_DAYS"] = 0
    clock.set(THU_FEB_12)
    case = open_case(clock, receiver)
    return Situation(case.id, case.id), SAT_FEB_14


def info_timeout(app, clock, receiver, reviewer, gateway) -> tuple[Situation, datetime]:
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    case = open_case(clock, receiver)
    clock.set(THU_FEB_12 + timedelta(days=1))
    cases.request_info(case, reviewer, "chat record please")
    return Situation(case.id, case.id), WED_FEB_25


def payout_late(app, clock, receiver, reviewer, gateway) -> tuple[Situation, datetime]:
    clock.set(THU_FEB_12)
    case = open_case(clock, receiver)
    gateway.script.append("pending")
    cases.approve(case, reviewer)
    work(app)  # settled as far as "pending"
    payout = db.session.scalars(select(Payout).where(Payout.case_id == case.id)).one()
    assert payout.state == "pending"
    return Situation(case.id, payout.id), payout.expected_arrival_at + timedelta(minutes=1)


SITUATIONS: dict[str, Callable[..., tuple[Situation, datetime]]] = {
    "review_reminder": reminder,
    "review_escalation": escalation,
    "merchant_silence": merchant_silence,
    "info_timeout": info_timeout,
    "payout_late": payout_late,
}


def test_every_rule_has_a_situation():
    assert set(SITUATIONS) == set(deadline_rules.RULES)


def _ids(model) -> int:
    return db.session.scalar(select(func.coalesce(func.max(model.id), 0)))


def marks() -> tuple[int, int, int]:
    return _ids(Event), _ids(Notice), _ids(WebhookDelivery)


def _scrub(value: Any, subs: dict[Any, str], key: str = "") -> Any:
    """``value`` with this side's ids, numbers and keys replaced by their role's name."""
    if isinstance(value, dict):
        return {k: _scrub(v, subs, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, subs, key) for v in value]
    if isinstance(value, str) and key == "id" and value.startswith("evt_"):
        return "<event>"
    if isinstance(value, str):
        for old, new in subs.items():
            if isinstance(old, str):
                value = value.replace(old, new)
        return value
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith("id"):
        return subs.get(("id", value), value)
    return value


def written_since(mark: tuple[int, int, int], s: Situation) -> dict[str, list]:
    """The events, notices and webhook deliveries written for ``s``'s case after ``mark``,
    with what differs between two equal situations (ids, numbers, keys) named by role."""
    db.session.expire_all()
    case = db.session.get(RefundCase, s.case_id)
    order = db.session.get(Order, case.order_id)
    subs: dict[Any, str] = {case.case_no: "<case_no>", order.order_no: "<order_no>"}
    subs |= {("id", case.id): "<case>", ("id", order.id): "<order>"}
    subs |= {("id", order.merchant_id): "<merchant>"}
    for p in db.session.scalars(select(Payout).where(Payout.case_id == s.case_id)):
        subs |= {p.idempotency_key: "<key>", ("id", p.id): "<payout>"}
    event_ids = list(db.session.scalars(select(Event.id).where(Event.case_id == case.id)))
    events = db.session.scalars(
        select(Event).where(Event.id > mark[0], Event.case_id == s.case_id).order_by(Event.id)
    )
    notices = db.session.scalars(
        select(Notice)
        .where(Notice.id > mark[1], Notice.case_id == s.case_id)
        .order_by(Notice.audience, Notice.kind)
    )
    deliveries = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.id > mark[2], WebhookDelivery.event_id.in_(event_ids))
        .order_by(WebhookDelivery.id)
    )
    return _scrub(
        {
            "events": [
                {
                    "kind": e.kind,
                    "actor": (e.actor_role, e.actor_id, e.actor_label),
                    "states": (e.from_state, e.to_state),
                    "reason": e.reason,
                    "data": e.data,
                    "payout_id": e.payout_id,
                    "order_id": e.order_id,
                    "at": e.created_at.isoformat(),
                }
                for e in events
            ],
            "notices": [
                {
                    "to": n.audience,
                    "order_id": n.order_id,
                    "merchant_id": n.merchant_id,
                    "kind": n.kind,
                    "message": n.message,
                    "params": n.params,
                    "at": n.created_at.isoformat(),
                }
                for n in notices
            ],
            "webhooks": [
                {
                    "type": d.event_type,
                    "payload": d.payload,
                    "delivered": d.delivered_at is not None,
                }
                for d in deliveries
            ],
        },
        subs,
    )


@pytest.mark.parametrize("rule", list(SITUATIONS))
def test_both_paths_write_the_same_rows(app, clock, receiver, reviewer, gateway, rule):
    build = SITUATIONS[rule]
    one, at = build(app, clock, receiver, reviewer, gateway)
    other, at_again = build(app, clock, receiver, reviewer, gateway)
    assert at == at_again
    clock.set(at)
    set_app(app)

    by_job = marks()
    assert deadline_rules.fire(rule, one.row_id)  # what the job scheduled at the deadline runs
    assert not deadline_rules.fire(rule, one.row_id)  # the same job twice acts once
    by_sweep = marks()
    assert sweep_deadlines() == 1  # only the other situation is still due
    # run again: a marker rule's row is claimed already; a state rule's job, not run yet, is
    # enqueued a second time, and that copy does nothing (the rows below would show it)
    assert sweep_deadlines() == (1 if rule in deadline_rules.STATE_RULES else 0)
    work(app)  # jobs the firing enqueued: state rules' own (from the sweep), settlement, webhooks
    assert not deadline_rules.fire(rule, one.row_id) and not deadline_rules.fire(rule, other.row_id)
    assert sweep_deadlines() == 0

    per_case = written_since(by_job, one)
    set_based = written_since(by_sweep, other)
    assert per_case["events"], "the rule wrote nothing"
    assert per_case == set_based
    if rule == "payout_late":
        assert [w["type"] for w in set_based["webhooks"]] == ["payout.late"]
        sent = [e["type"] for e in receiver.events()]
        assert sent.count("payout.late") == 2  # one per situation, whichever path fired it


def test_reminder_and_escalation_due_together(app, clock, receiver, reviewer, gateway):
    """The sweep claims both rules of a case in one statement (on PostgreSQL); the job fires
    them one after the other: the same events and notices, in the same order."""
    one, _ = reminder(app, clock, receiver, reviewer, gateway)
    other, _ = reminder(app, clock, receiver, reviewer, gateway)
    clock.set(TUE_FEB_24)  # past the reminder and the escalation
    set_app(app)

    by_job = marks()
    assert fire_for_case(one.case_id) == ["review_reminder", "review_escalation"]
    assert fire_for_case(one.case_id) == []
    by_sweep = marks()
    assert deadline_bulk.run(clock()) == {
        "review_reminder": 1,
        "review_escalation": 1,
        "payout_late": 0,
    }
    assert deadline_bulk.run(clock()) == dict.fromkeys(deadline_rules.MARKER_RULES, 0)

    per_case = written_since(by_job, one)
    set_based = written_since(by_sweep, other)
    assert [e["kind"] for e in per_case["events"]] == ["review_reminder", "escalated"]
    assert len(per_case["notices"]) == 3
    assert per_case == set_based


def _both_rules() -> list[deadline_rules.Rule]:
    return [deadline_rules.RULES[r] for r in ("review_reminder", "review_escalation")]


def test_claiming_together_leaves_a_rule_claimed_at_the_same_instant(app, clock, receiver):
    """A job reminded the case at the very instant the sweep claims both rules: the sweep
    escalates and does not remind again (a marker equal to ``now`` is not the sweep's)."""
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    case_id = open_case(clock, receiver).id
    clock.set(TUE_FEB_24)
    assert deadline_rules.fire("review_reminder", case_id)
    acted = deadline_rules.apply_together(_both_rules(), [case_id], clock())
    assert acted == {"review_reminder": [], "review_escalation": [case_id]}
    db.session.commit()
    kinds = select(Event.kind).where(Event.case_id == case_id, Event.kind != "applied")
    assert sorted(db.session.scalars(kinds)) == ["escalated", "review_reminder"]


def test_a_page_of_both_rules_writes_its_notices_and_reads_its_rows_once(app, clock, receiver):
    """The reminder's and the escalation's notices of a page go in by one INSERT (no
    ``RETURNING``: no channel outside the inbox delivers them), and the rows their events are
    about are read by one statement for both rules."""
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    ids = [open_case(clock, receiver).id for _ in range(3)]
    clock.set(TUE_FEB_24)
    sent: list[str] = []

    def seen(conn, cursor, statement: str, *args: object) -> None:
        sent.append(" ".join(statement.split()))

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        acted = deadline_rules.apply_together(_both_rules(), ids, clock())
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    db.session.commit()
    assert acted == {"review_reminder": ids, "review_escalation": ids}
    notices_written = [s for s in sent if s.startswith("INSERT INTO notices")]
    assert len(notices_written) == 1
    assert "RETURNING" not in notices_written[0]
    assert len([s for s in sent if s.startswith("SELECT") and "case_no" in s]) == 1
    kinds = select(Notice.kind, func.count()).where(Notice.case_id.in_(ids), Notice.kind != "state")
    kinds = kinds.group_by(Notice.kind)
    assert dict(db.session.execute(kinds).tuples().all()) == {"review_reminder": 3, "escalated": 6}
    events = select(Event.kind, func.count()).where(Event.case_id.in_(ids)).group_by(Event.kind)
    counts = dict(db.session.execute(events).tuples().all())
    assert (counts["review_reminder"], counts["escalated"]) == (3, 3)


def test_a_page_hands_its_notices_to_one_delivery_job_when_mail_is_set(app, clock, receiver):
    """With a channel outside the inbox (mail), the page's notices, written by one INSERT,
    are read back and all handed to the transaction's one delivery job."""
    from portal.infra.queue import queue

    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    ids = [open_case(clock, receiver).id for _ in range(2)]
    clock.set(TUE_FEB_24)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1)  # the job is not run here
    before = {j.id for j in queue().jobs if j.func_name == "jobs.notify.deliver_many"}
    deadline_rules.apply_together(_both_rules(), ids, clock())
    db.session.commit()
    jobs = [
        j for j in queue().jobs if j.func_name == "jobs.notify.deliver_many" and j.id not in before
    ]
    written = select(Notice.id).where(Notice.case_id.in_(ids), Notice.kind != "state")
    assert len(jobs) == 1
    assert sorted(jobs[0].args[0]) == sorted(db.session.scalars(written))
    assert len(jobs[0].args[0]) == 6


@pytest.mark.skipif(not PG_URL, reason="row locks between two sessions: PostgreSQL")
def test_claiming_together_waits_for_a_job_claiming_meanwhile(app, clock, receiver):
    """The job claims the reminder and has not committed when the sweep claims both rules:
    the sweep waits, then reads the row as the job left it and escalates only."""
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    case_id = open_case(clock, receiver).id
    db.session.commit()
    clock.set(TUE_FEB_24)
    job = db.engine.connect()
    job_txn = job.begin()
    cases_table = RefundCase.__table__
    claimed = job.execute(
        update(cases_table)
        .where(cases_table.c.id == case_id, cases_table.c.reminded_at.is_(None))
        .values(reminded_at=clock())
    )
    assert claimed.rowcount == 1
    result: dict[str, Any] = {}

    def sweep() -> None:
        with app.app_context():
            try:
                result["acted"] = deadline_rules.apply_together(_both_rules(), [case_id], clock())
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                result["error"] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=sweep)
    thread.start()
    until_blocked(db.engine, thread, "the sweep never waited for the job's lock")
    assert thread.is_alive()  # the sweep waits for the job's row lock
    job_txn.commit()
    job.close()
    thread.join(30)
    assert result == {"acted": {"review_reminder": [], "review_escalation": [case_id]}}
    db.session.expire_all()
    kinds = select(Event.kind).where(Event.case_id == case_id, Event.kind != "applied")
    assert list(db.session.scalars(kinds)) == ["escalated"]  # the job's own events: not here


def test_a_page_acts_only_on_rows_still_due(app, clock, receiver):
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    ids = [open_case(clock, receiver).id for _ in range(3)]
    clock.set(SAT_FEB_14)
    assert deadline_rules.fire("review_reminder", ids[1])
    rule = deadline_rules.RULES["review_reminder"]
    assert deadline_rules.apply(rule, ids, clock()) == [ids[0], ids[2]]
    db.session.commit()
    assert deadline_rules.apply(rule, ids, clock()) == []
    reminders = select(func.count()).where(Event.kind == "review_reminder")
    assert db.session.scalar(reminders) == 3


def test_a_page_is_found_and_claimed_by_one_statement_in_id_order(app, clock, receiver):
    """On PostgreSQL the sweep's page is the claim's own: the first rows due after the last
    page, in id order, claimed and acted on by one UPDATE (no read of the page's ids first);
    a row no longer due is not in any page; past the last row, a page is empty (None)."""
    if not deadline_rules.claims_pages():
        pytest.skip("SQLite reads a page's ids, then claims them (apply_together)")
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    clock.set(THU_FEB_12)
    ids = [open_case(clock, receiver).id for _ in range(5)]
    clock.set(SAT_FEB_14)  # past the reminder only
    assert deadline_rules.fire("review_reminder", ids[2])  # a job got there first
    rules = [deadline_rules.RULES["review_reminder"]]
    pages, last = [], 0
    sent: list[str] = []

    def seen(conn, cursor, statement: str, *args: object) -> None:
        sent.append(" ".join(statement.split()))

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        while True:
            before = len(sent)
            acted, last = deadline_rules.apply_page(rules, clock(), last or 0, 2)
            db.session.commit()
            claims = [s for s in sent[before:] if s.startswith("UPDATE refund_cases")]
            assert len(claims) == 1 and "LIMIT" in claims[0] and "FOR UPDATE" in claims[0]
            if last is None:
                assert acted == {"review_reminder": []}
                break
            pages.append(acted["review_reminder"])
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    assert pages == [[ids[0], ids[1]], [ids[3], ids[4]]]
    assert not [s for s in sent if s.startswith("SELECT refund_cases.id")]  # no ids read first
    reminders = select(func.count()).where(Event.kind == "review_reminder")
    assert db.session.scalar(reminders) == 5


class Statements:
    """Counts the SQL statements the engine runs while active (one-row INSERTs apart)."""

    def __init__(self) -> None:
        self.count = self.inserts = 0

    def __enter__(self) -> Statements:
        sa_event.listen(db.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        sa_event.remove(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement: str, *args: object) -> None:
        if statement.startswith("INSERT"):
            self.inserts += 1
        else:
            self.count += 1


def test_sweep_statements_per_page_do_not_grow_with_rows(app, clock, receiver, reviewer, gateway):
    """Reminders, escalations and late payouts (with webhook endpoints, so the outbox builds
    deliveries): a sweep over 2 of each and one over 6 run as many statements."""
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    counted = []
    start = clock()  # a Tuesday away from holidays
    for n in (2, 6):
        clock.set(start)
        for _ in range(n):
            open_case(clock, receiver)
        for _ in range(n):
            cases.approve(open_case(clock, receiver), reviewer)
        gateway.script += ["pending"] * n
        work(app)
        clock.set(start + timedelta(days=4, hours=1))  # past the review and arrival deadlines
        set_app(app)
        with Statements() as seen:
            assert deadline_bulk.run(clock()) == {
                "review_reminder": n,
                "review_escalation": n,
                "payout_late": n,
            }
        counted.append(seen)
        start = clock() + timedelta(days=30)
    assert counted[0].count == counted[1].count  # reads and claims
    if db.engine.dialect.name != "sqlite":
        # the outbox adds webhook deliveries through the ORM, which needs their ids back; SQLite
        # cannot promise the order of RETURNING rows, so there SQLAlchemy inserts them a row
        # per statement (in process: no round trip)
        assert counted[0].inserts == counted[1].inserts
    deliveries = select(func.count()).where(WebhookDelivery.event_type == "payout.late")
    assert db.session.scalar(deliveries) == 2 + 6


def test_set_based_writers_write_what_the_one_row_writers_write(app, clock, receiver):
    """``record_each``/``notices.add_each`` (a page) and ``record``/``notices.add`` (one row):
    the same columns, and the same webhook events noted for the outbox."""
    case = open_case(clock, receiver)
    rows = (
        select(
            RefundCase.id.label("case_id"),
            RefundCase.order_id,
            cast(null(), Integer).label("payout_id"),
            RefundCase.case_no,
            Order.merchant_id,
        )
        .join(Order, Order.id == RefundCase.order_id)
        .where(RefundCase.id == case.id)
    )
    note = Note("review_target_passed")
    by_row = transitions.record("payout_late", SYSTEM, case=case, note=note, data={"a": 1})
    assert transitions.record_each("payout_late", SYSTEM, rows, note=note, data={"a": 1}) == 1
    noted = db.session.info["portal.webhook_events"]
    assert noted[-2].id == by_row.id
    first, second = (asdict(e) | {"id": None} for e in noted[-2:])
    assert first == second
    for audience in (inbox.BUYER, inbox.MERCHANT, inbox.STAFF):
        one = inbox.add(case, audience, "k", inbox.PAYOUT_LATE_BUYER)
        (each,) = inbox.add_each(rows, audience, "k", inbox.PAYOUT_LATE_BUYER)
        db.session.flush()
        a, b = (db.session.get(Notice, i) for i in (one, each))
        columns = [c.name for c in Notice.__table__.c if c.name != "id"]
        assert [getattr(a, c) for c in columns] == [getattr(b, c) for c in columns]
    db.session.commit()
    rows_written = select(Event).where(Event.case_id == case.id, Event.kind == "payout_late")
    written = db.session.scalars(rows_written).all()
    # the same content; each its own link in the case's chain, the second after the first
    links = ("chain_seq", "prev_hash", "hash")
    columns = [c.name for c in Event.__table__.c if c.name not in ("id", *links)]
    assert [getattr(written[0], c) for c in columns] == [getattr(written[1], c) for c in columns]
    assert written[1].prev_hash == written[0].hash
    assert written[1].chain_seq == written[0].chain_seq + 1
