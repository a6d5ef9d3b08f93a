"""Retention: after RETENTION_DAYS from an order's cases' end, a job erases the buyer's
contact, query-password hash, words, network address, payer id and evidence files, leaving
amounts, states and the audit chain, which still verifies (an erasure receipt names every
blanked event); real tampering after an erasure is still found; legal holds stop it; the job
is safe to run twice. SQLite by default; PostgreSQL with PORTAL_DATABASE_URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, select, text

from jobs import retention
from jobs.runtime import set_app
from portal.audit_cli import audit
from portal.domain import audit_chain, privacy
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import (
    Event,
    Evidence,
    Order,
    Payment,
    RefundCase,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.services.actors import Actor
from portal.services.audit import keys, seals
from portal.services.audit.verify import verify
from portal.services.errors import DomainError, Forbidden
from portal.services.integration import orders
from portal.services.privacy import erasure, holds
from portal.services.refunds import cases, disputes
from portal.services.uploads import storage
from tests import factories as f
from tests.conftest import PG_URL, Browser
from tests.test_buyer_flow import login_order
from tests.test_statement_counts import _apply_with_a_file

REVIEWER = Actor(Role.REVIEWER, user_id=None, label="rev")
SUPERVISOR = Actor(Role.REVIEWER, user_id=None, label="sup", supervisor=True)
DAYS = 30
SECRET = "my cat walked on the keyboard"


@pytest.fixture(autouse=True)
def _fresh_clients(client):
    """Every client of these tests gets a fresh ``g`` per request (see FreshGClient)."""


@pytest.fixture(autouse=True)
def _settings(app):
    app.config["RETENTION_DAYS"] = DAYS
    app.config["AUDIT_SEAL_KEY"] = keys.new_key_text()
    set_app(app)


def _ended_case(app, clock) -> RefundCase:
    """A rejected case with the buyer's words in its events and one evidence file."""
    order = f.order(clock(), extra={"buyer_id": "2088000000000001"})
    db.session.execute(
        Payment.__table__.update()
        .where(Payment.order_id == order.id)
        .values(payer_id="2088000000000001")
    )
    db.session.commit()
    buyer = Browser(app.test_client())
    login_order(buyer, order)
    case_no = _apply_with_a_file(buyer, order.order_no)
    case = cases.get_case(case_no)
    case.applicant_address = "203.0.113.9"
    db.session.commit()
    disputes.contact_merchant(case, SECRET)
    cases.start_review(case, REVIEWER)
    disputes.post_message(case, REVIEWER, "please send the screenshot")
    cases.reject(case, REVIEWER, "used before the application")
    return cases.get_case(case_no)


class _Stored:
    """A stored evidence file, asked through the store (local or object storage)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def exists(self) -> bool:
        return storage.current().size(self.name) is not None


def _file_of(case: RefundCase) -> _Stored:
    [row] = case.evidence
    return _Stored(row.stored_name)


def _run_job() -> int:
    return retention.erase_due(seals.day_of(_now()))


_clock = None


def _now():
    assert _clock is not None
    return _clock()


@pytest.fixture(autouse=True)
def _remember_clock(clock):
    global _clock
    _clock = clock


@pytest.fixture
def tamper(app) -> Iterator[Connection]:
    """A connection with the append-only triggers lifted (as someone with the database's keys
    could), put back afterwards."""
    db.session.commit()
    conn = db.engine.connect()
    if PG_URL:
        conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_no_update")
    else:
        conn.exec_driver_sql("DROP TRIGGER events_no_update")
    conn.commit()
    yield conn
    conn.rollback()
    if PG_URL:
        conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_no_update")
    conn.commit()
    conn.close()
    db.session.expire_all()


def _run(conn: Connection, sql: str, **params) -> None:
    conn.execute(text(sql), params)
    conn.commit()
    db.session.expire_all()


def _erased_case(app, clock) -> RefundCase:
    case = _ended_case(app, clock)
    seals.seal_day(seals.yesterday(clock()))
    clock.advance(days=DAYS + 1)
    assert _run_job() == 1
    return db.session.get_one(RefundCase, case.id)


def _first(case_id: int | None = None):
    report = verify(case_id)
    assert not report.ok
    first = report.first
    assert first is not None
    return first


# --- the job ----------------------------------------------------------------------------------


def test_after_the_period_personal_data_goes_and_the_record_stays(app, clock):
    case = _ended_case(app, clock)
    order_id, amount, state = case.order_id, case.amount_requested_fen, case.state
    path = _file_of(case)
    assert path.exists()
    seals.seal_day(seals.yesterday(clock()))
    clock.advance(days=DAYS - 1)
    assert _run_job() == 0  # not due yet
    assert db.session.get_one(Order, order_id).erased_at is None
    clock.advance(days=2)
    assert _run_job() == 1
    assert _run_job() == 0  # twice is once
    db.session.expire_all()
    order = db.session.get_one(Order, order_id)
    assert order.erased_at is not None
    assert (order.buyer_contact, order.query_password_hash) == ("", "")
    assert order.amount_fen == 10000
    payment = order.payment
    assert payment.payer_id == "" and "buyer_id" not in payment.extra
    assert payment.gateway_trade_id.startswith("GW")
    case = db.session.get_one(RefundCase, case.id)
    assert (case.explanation, case.applicant_address) == ("", "")
    assert (case.amount_requested_fen, case.state) == (amount, state)
    [row] = case.evidence
    assert row.erased_at is not None and row.original_name == "" and row.sha256
    assert not path.exists()
    events = db.session.scalars(
        select(Event).where(Event.case_id == case.id).order_by(Event.chain_seq)
    ).all()
    assert all(e.reason == "" for e in events if e.actor_role == "buyer")
    assert any(e.reason == "used before the application" for e in events)  # staff's words stay
    assert SECRET not in str([(e.reason, e.data) for e in events])
    receipt = events[-1]
    assert receipt.kind == privacy.ERASED and receipt.data["cause"] == "retention"
    blanked = {e["seq"] for e in receipt.data["erased_events"]}
    assert blanked == {e.chain_seq for e in events if e.actor_role == "buyer" and e.reason == ""}
    assert len(blanked) >= 2  # the application's explanation and the message to the shop
    report = verify()
    assert report.ok, report.problems
    result = CliRunner().invoke(audit, ["verify"], obj=None, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # nobody can look the order up any more, not even with an empty contact
    with pytest.raises(DomainError):
        orders.lookup(order.order_no, f.CONTACT, f.PASSWORD)
    with pytest.raises(DomainError):
        orders.lookup(order.order_no, "", "")


def test_two_runs_at_once_erase_an_order_once(app, clock):
    case = _ended_case(app, clock)
    clock.advance(days=DAYS + 1)
    assert erasure.erase_order(case.order_id, Actor(Role.SYSTEM), "retention", retention_days=DAYS)
    assert not erasure.erase_order(
        case.order_id, Actor(Role.SYSTEM), "retention", retention_days=DAYS
    )
    receipts = db.session.scalars(select(Event).where(Event.kind == privacy.ERASED)).all()
    assert len(receipts) == 1
    assert verify().ok


def test_an_open_case_holds_the_order(app, clock):
    order = f.order(clock())
    ended = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "first")
    )
    cases.withdraw(ended)
    cases.apply_for_refund(order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "2nd"))
    clock.advance(days=DAYS + 1)
    assert _run_job() == 0
    assert holds.of_order(order.id, clock(), DAYS) == [privacy.Hold.OPEN_CASE]


def test_an_open_appeal_holds_the_order(app, clock):
    case = _ended_case(app, clock)
    disputes.appeal(case, "I never used it, here is why", [])
    assert cases.get_case(case.case_no).state == State.APPEALED
    clock.advance(days=DAYS + 1)
    assert _run_job() == 0
    assert privacy.Hold.OPEN_CASE in holds.of_order(case.order_id, clock(), DAYS)


def test_a_supervisor_s_hold_stops_erasure_until_lifted(app, clock):
    case = _ended_case(app, clock)
    with pytest.raises(Forbidden):
        holds.set_hold(case, REVIEWER, "court order 12")
    with pytest.raises(DomainError):
        holds.set_hold(case, SUPERVISOR, "   ")
    holds.set_hold(case, SUPERVISOR, "court order 12")
    with pytest.raises(DomainError):
        holds.set_hold(case, SUPERVISOR, "again")
    clock.advance(days=DAYS + 1)
    assert _run_job() == 0
    assert holds.of_order(case.order_id, clock(), DAYS) == [privacy.Hold.SUPERVISOR]
    with pytest.raises(erasure.Held):
        erasure.erase_order(case.order_id, Actor(Role.SYSTEM), "retention", retention_days=DAYS)
    holds.lift_hold(case, SUPERVISOR, "the court released it")
    assert _run_job() == 1
    kinds = [
        (e.kind, e.reason)
        for e in db.session.scalars(
            select(Event).where(Event.case_id == case.id).order_by(Event.chain_seq)
        )
    ]
    assert (privacy.HOLD_SET, "court order 12") in kinds
    assert (privacy.HOLD_LIFTED, "the court released it") in kinds
    assert verify().ok


def test_the_webhook_outbox_copy_loses_the_buyer_s_words(app, clock):
    order = f.order(clock())
    db.session.add(
        WebhookEndpoint(merchant_id=order.merchant_id, url="https://shop.example/h", secret="s")
    )
    db.session.commit()
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "first")
    )
    cases.withdraw(case, SECRET)
    copies = db.session.scalars(select(WebhookDelivery)).all()
    assert any(d.payload["data"]["reason"] == SECRET for d in copies)
    clock.advance(days=DAYS + 1)
    assert _run_job() == 1
    db.session.expire_all()
    copies = db.session.scalars(select(WebhookDelivery)).all()
    assert copies and SECRET not in json.dumps([d.payload for d in copies])
    assert verify().ok


def test_the_payer_keys_erased_are_the_ones_the_intake_reads():
    from portal.services.integration import ingest

    assert privacy.PAYER_KEYS == ingest.PAYER_KEYS


# --- the chain still proves itself --------------------------------------------------------------


def test_the_append_only_trigger_lets_only_an_erasure_through(app, clock):
    case = _ended_case(app, clock)
    staff_event = db.session.scalars(
        select(Event).where(Event.case_id == case.id, Event.actor_role == "reviewer")
    ).first()
    db.session.commit()
    for sql in (
        "UPDATE events SET reason = '' WHERE id = :id",  # no erasure listed for it
        "DELETE FROM events WHERE id = :id",
    ):
        with pytest.raises(Exception, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(sql), {"id": staff_event.id})
    clock.advance(days=DAYS + 1)
    assert _run_job() == 1
    blanked = db.session.scalars(
        select(Event).where(Event.case_id == case.id, Event.actor_role == "buyer")
    ).first()
    # listed as erased, yet any change but the blank reason is still refused
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE events SET to_state = 'refunded' WHERE id = :id"), {"id": blanked.id}
            )


def test_a_change_to_an_erased_event_is_still_found(app, clock, tamper):
    case = _erased_case(app, clock)
    assert verify().ok
    blanked = db.session.scalars(
        select(Event)
        .where(Event.case_id == case.id, Event.actor_role == "buyer")
        .order_by(Event.chain_seq)
    ).first()
    _run(tamper, "UPDATE events SET from_state = 'approved' WHERE id = :id", id=blanked.id)
    first = _first()
    assert (first.code, first.event_id) == ("content_changed", blanked.id)


def test_words_put_back_in_an_erased_event_are_found(app, clock, tamper):
    case = _erased_case(app, clock)
    blanked = db.session.scalars(
        select(Event)
        .where(Event.case_id == case.id, Event.actor_role == "buyer")
        .order_by(Event.chain_seq)
    ).first()
    _run(tamper, "UPDATE events SET reason = 'something else' WHERE id = :id", id=blanked.id)
    first = _first(case.id)
    assert (first.code, first.event_id) == ("content_changed", blanked.id)


def test_a_blank_no_receipt_covers_is_found(app, clock, tamper):
    case = _erased_case(app, clock)
    staff_event = db.session.scalars(
        select(Event).where(
            Event.case_id == case.id, Event.actor_role == "reviewer", Event.reason != ""
        )
    ).first()
    _run(tamper, "UPDATE events SET reason = '' WHERE id = :id", id=staff_event.id)
    first = _first()
    assert (first.code, first.event_id) == ("content_changed", staff_event.id)


def test_a_blank_before_any_erasure_is_found(app, clock, tamper):
    case = _ended_case(app, clock)
    event = db.session.scalars(
        select(Event).where(Event.case_id == case.id, Event.actor_role == "buyer")
    ).first()
    _run(tamper, "UPDATE events SET reason = '' WHERE id = :id", id=event.id)
    first = _first()
    assert (first.code, first.event_id) == ("content_changed", event.id)


def test_a_receipt_changed_to_cover_more_is_found(app, clock, tamper):
    case = _erased_case(app, clock)
    receipt = db.session.scalars(
        select(Event).where(Event.case_id == case.id, Event.kind == privacy.ERASED)
    ).one()
    staff_event = db.session.scalars(
        select(Event).where(
            Event.case_id == case.id, Event.actor_role == "reviewer", Event.reason != ""
        )
    ).first()
    # blank a staff event and forge the receipt's entry for it (without the portal's hashes
    # recomputed down the chain): the receipt itself no longer matches its hash
    blank = {name: getattr(staff_event, name) for name in audit_chain.CONTENT_FIELDS} | {
        "reason": ""
    }
    forged = dict(receipt.data)
    forged["erased_events"] = [
        *forged["erased_events"],
        audit_chain.erased_link(
            staff_event.chain_seq,
            staff_event.hash,
            ["reason"],
            audit_chain.link_hash(staff_event.prev_hash, blank),
        ),
    ]

    _run(tamper, "UPDATE events SET reason = '' WHERE id = :id", id=staff_event.id)
    _run(tamper, "UPDATE events SET data = :d WHERE id = :id", id=receipt.id, d=json.dumps(forged))
    report = verify()
    assert not report.ok
    # a receipt that does not match its hash explains nothing: the chain's blanks stand out
    assert [(p.code, p.chain) for p in report.problems] == [
        ("content_changed", audit_chain.case_chain(case.id))
    ]


def test_an_erased_event_deleted_is_found(app, clock, tamper):
    case = _erased_case(app, clock)
    if not PG_URL:
        tamper.exec_driver_sql("DROP TRIGGER events_no_delete")
        tamper.commit()
    blanked = db.session.scalars(
        select(Event).where(Event.case_id == case.id, Event.actor_role == "buyer")
    ).first()
    _run(tamper, "DELETE FROM event_erasures WHERE event_id = :id", id=blanked.id)
    _run(tamper, "DELETE FROM events WHERE id = :id", id=blanked.id)
    assert not verify().ok


def test_the_erased_case_still_matches_its_seal(app, clock):
    case = _erased_case(app, clock)
    clock.advance(days=1)
    seals.seal_day(seals.yesterday(clock()))
    report = verify(case.id)
    assert report.ok, report.problems
    assert report.seals >= 2
    assert timedelta(days=DAYS) < clock() - case.created_at
    assert db.session.scalars(select(Evidence).where(Evidence.case_id == case.id)).one().erased_at


@pytest.mark.skipif(not PG_URL, reason="row locks between two sessions: PostgreSQL")
def test_a_hold_set_while_an_erasure_waits_is_seen(app, clock):
    import threading

    from portal.models import LegalHold
    from tests.pg_locks import until_blocked

    case = _ended_case(app, clock)
    order_id, case_id = case.order_id, case.id
    clock.advance(days=DAYS + 1)
    # a supervisor's hold being set: the order's row locked, the hold written, not committed
    db.session.scalar(select(Order.erased_at).where(Order.id == order_id).with_for_update())
    db.session.add(
        LegalHold(case_id=case_id, order_id=order_id, reason="court", set_by="sup", set_at=clock())
    )
    db.session.flush()
    result: dict = {}

    def erase() -> None:
        with app.app_context():
            try:
                result["erased"] = erasure.erase_order(
                    order_id, Actor(Role.SYSTEM), "retention", retention_days=DAYS
                )
            except erasure.Held as exc:
                result["held"] = exc.holds
            finally:
                db.session.remove()

    thread = threading.Thread(target=erase)
    thread.start()
    until_blocked(db.engine, thread, "the erasure never waited for the hold")
    db.session.commit()
    thread.join(30)
    assert result == {"held": [privacy.Hold.SUPERVISOR]}
    db.session.expire_all()
    assert db.session.get_one(Order, order_id).erased_at is None


@pytest.mark.skipif(not PG_URL, reason="two sessions at once: PostgreSQL")
def test_two_jobs_at_once_erase_each_order_once(app, clock):
    import threading

    made = [_ended_case(app, clock) for _ in range(3)]
    clock.advance(days=DAYS + 1)
    results: list = []

    def run() -> None:
        with app.app_context():
            try:
                results.append(erasure.erase_due(clock()))
            except Exception as exc:  # noqa: BLE001 - asserted below
                results.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(n, int) for n in results) and sum(results) == len(made), results
    receipts = db.session.scalars(select(Event).where(Event.kind == privacy.ERASED)).all()
    assert sorted(r.case_id for r in receipts) == sorted(c.id for c in made)
    assert verify().ok, verify().problems
