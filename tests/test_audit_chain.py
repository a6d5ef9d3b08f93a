"""The audit trail proves itself: events are linked into hash chains as they are written (the
transition function, the event writer and the sweep's set-based path alike), the daily seal is
signed and made once, and a row edited, deleted, inserted or moved straight in the database
(the append-only triggers lifted, as someone with the database's keys could) is found by
verify, which names the event. SQLite by default; PostgreSQL with PORTAL_DATABASE_URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select, text

from portal.audit_cli import audit
from portal.domain import audit_chain
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import AuditSeal, ChainHead, Event, RefundCase
from portal.services.actors import SYSTEM, Actor
from portal.services.audit import chain, keys, seals
from portal.services.audit.verify import verify
from portal.services.deadlines import deadline_bulk
from portal.services.refunds import cases, disputes, transitions
from portal.services.unit_of_work import commit
from tests import factories as f
from tests.conftest import PG_URL
from tests.pg_locks import until_blocked

REVIEWER = Actor(Role.REVIEWER, user_id=None, label="rev")


@pytest.fixture
def sealing(app):
    app.config["AUDIT_SEAL_KEY"] = keys.new_key_text()
    return app


def _case(clock, text_: str = "broken") -> RefundCase:
    case = cases.apply_for_refund(
        f.order(clock()), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, text_)
    )
    cases.start_review(case, REVIEWER)
    disputes.post_message(case, REVIEWER, "please send a screenshot")
    disputes.post_message(case, REVIEWER, "thanks")
    cases.reject(case, REVIEWER, "used before the application")
    return case


def _chain(case_id: int) -> list[Event]:
    return list(
        db.session.scalars(
            select(Event)
            .where(Event.chain == audit_chain.case_chain(case_id))
            .order_by(Event.chain_seq)
        )
    )


@pytest.fixture
def tamper(app) -> Iterator[Connection]:
    """A connection with the append-only triggers lifted, put back afterwards."""
    db.session.commit()
    conn = db.engine.connect()
    if PG_URL:
        conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_no_update")
    else:
        conn.exec_driver_sql("DROP TRIGGER events_no_update")
        conn.exec_driver_sql("DROP TRIGGER events_no_delete")
    conn.commit()
    yield conn
    conn.rollback()
    if PG_URL:
        conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_no_update")
    conn.commit()
    conn.close()
    db.session.expire_all()


def _run(conn: Connection, sql: str, **params: Any) -> None:
    conn.execute(text(sql), params)
    conn.commit()
    db.session.expire_all()


def _only(code: str, event_id: int | None, case_id: int | None = None) -> None:
    report = verify(case_id)
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.code, first.event_id) == (code, event_id), report.problems


# --- written as chains -----------------------------------------------------------------------


def test_every_event_is_linked_to_the_one_before_in_its_case(app, clock):
    case = _case(clock)
    events = _chain(case.id)
    assert [e.kind for e in events][:2] == ["applied", "transition"]
    assert [e.chain_seq for e in events] == list(range(1, len(events) + 1))
    prev = audit_chain.GENESIS
    for event in events:
        assert event.prev_hash == prev
        prev = event.hash
    head = db.session.get(ChainHead, audit_chain.case_chain(case.id))
    assert (head.seq, head.hash) == (len(events), events[-1].hash)
    order_events = db.session.scalars(select(Event).where(Event.case_id.is_(None))).all()
    assert order_events == [] or all(e.chain and e.chain.startswith("order:") for e in order_events)
    report = verify()
    assert report.ok, report.problems
    assert report.events == db.session.scalar(select(func.count()).select_from(Event))


def test_the_sweep_s_set_based_events_join_the_chains(app, clock):
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    made = [
        cases.apply_for_refund(
            f.order(clock()), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
        )
        for _ in range(3)
    ]
    clock.advance(days=20)
    acted = deadline_bulk.run(clock(), batch=2)
    assert sum(acted.values()) >= 3
    swept = db.session.scalars(
        select(Event).where(Event.kind.in_(["review_reminder", "escalated"]))
    ).all()
    assert {e.case_id for e in swept} == {c.id for c in made}
    assert all(e.hash for e in swept)
    assert verify().ok, verify().problems


@pytest.mark.parametrize("copy_from", [1, 10_000])
def test_a_sweep_page_links_each_case_s_reminder_then_its_escalation(
    app, clock, monkeypatch, copy_from
):
    # both rules' events of a page are linked at once, each chain moved once; from COPY_FROM
    # events up they are written by COPY on PostgreSQL (1: always; 10,000: never)
    monkeypatch.setattr(transitions, "COPY_FROM", copy_from)
    app.config["MERCHANT_ANSWER_WORKING_DAYS"] = 30
    made = [
        cases.apply_for_refund(
            f.order(clock()), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
        )
        for _ in range(3)
    ]
    db.session.commit()
    clock.advance(days=20)
    acted = deadline_bulk.run(clock(), batch=2)
    assert acted["review_reminder"] == acted["review_escalation"] == 3
    for case in made:
        events = _chain(case.id)
        assert [e.chain_seq for e in events] == list(range(1, len(events) + 1))
        assert [e.kind for e in events][-2:] == ["review_reminder", "escalated"]
        assert events[-1].data["note"]["code"] == "review_target_passed"
        head = db.session.get(ChainHead, audit_chain.case_chain(case.id))
        assert head is not None and (head.seq, head.hash) == (len(events), events[-1].hash)
    assert verify().ok, verify().problems


_NOW = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=UTC)
_SHARED_EVENTS = [
    {"kind": "escalated", "actor_role": "system", "actor_label": "System", "created_at": _NOW},
    {
        "kind": State.CLOSED,  # a str enum, as the transition function's states are
        "actor_role": Role.REVIEWER,
        "actor_id": 7,
        "actor_label": 'Wáng "Li" \\ 王\n\t\x01',
        "from_state": "submitted",
        "to_state": "",
        "reason": "broken \u2028 line",
        "data": {"z": [1, 2.5, None, True], "a": {"é": "ü", "b": (1, 2)}, "n": 10**30},
        "created_at": datetime(2026, 12, 7, 17, 30, 15),  # naive: taken as UTC
    },
    {
        "kind": "x",
        "actor_id": True,
        "data": None,
        "created_at": _NOW.astimezone(timezone(timedelta(hours=8))),
    },
]
_OWN_VALUES = [
    ("case:12", 3, 12, 34, None),
    ("order:34", 1, None, 34, 56),
    (audit_chain.PLATFORM_CHAIN, 10**12, None, None, None),
    ('case:\u00e9"', 2, True, 2.0, "5"),  # not what a row holds: encoded as canonical does
]


@pytest.mark.parametrize("shared", _SHARED_EVENTS)
@pytest.mark.parametrize("own", _OWN_VALUES)
def test_a_linker_hashes_exactly_what_canonical_covers(shared, own):
    # the sweep's page hashes its events through a Linker (the shared fields encoded once):
    # byte for byte the canonical form verify checks
    event = {**shared, **dict(zip(audit_chain.PER_EVENT, own, strict=True))}
    linker = audit_chain.Linker(event)
    assert linker.canonical(*own) == audit_chain.canonical(event)
    prev = "ab" * 32
    assert linker.link_hash(prev, *own) == audit_chain.link_hash(prev, event)


def test_events_equal_but_encoded_apart_are_not_hashed_alike(app):
    # 1 and True (or 1.0) are equal keys, not the same JSON: each event is hashed as its own
    rows = [
        {**_SHARED_EVENTS[0], "actor_id": actor_id, "case_id": None, "order_id": None}
        for actor_id in (1, True, 1.0, 1)
    ]
    linked = chain.link(rows)
    assert [row["chain_seq"] for row in linked] == [1, 2, 3, 4]
    for row in linked:
        assert row["hash"] == audit_chain.link_hash(row["prev_hash"], row)
    assert len({row["hash"] for row in linked}) == 4
    db.session.rollback()


def test_a_verified_case_alone(app, clock):
    one, other = _case(clock), _case(clock)
    report = verify(one.id)
    assert report.ok and report.chains == 1
    assert report.events == len(_chain(one.id))
    assert verify(other.id).ok


# --- tampering is found ----------------------------------------------------------------------


def test_an_edited_event_is_named(app, clock, tamper):
    case = _case(clock)
    victim = _chain(case.id)[2]
    _run(tamper, "UPDATE events SET reason = 'nothing happened' WHERE id = :id", id=victim.id)
    _only("content_changed", victim.id)
    _only("content_changed", victim.id, case.id)


def test_an_edited_data_field_or_time_is_named(app, clock, tamper):
    case = _case(clock)
    second = _chain(case.id)[1]
    _run(
        tamper,
        "UPDATE events SET created_at = :t WHERE id = :id",
        t=clock() - timedelta(days=3),
        id=second.id,
    )
    _only("content_changed", second.id)
    other = _case(clock)
    victim = _chain(other.id)[0]
    _run(tamper, "UPDATE events SET actor_role = 'system' WHERE id = :id", id=victim.id)
    assert victim.id in {p.event_id for p in verify().problems}


def test_a_deleted_event_is_found_at_the_gap(app, clock, tamper):
    case = _case(clock)
    events = _chain(case.id)
    _run(tamper, "DELETE FROM events WHERE id = :id", id=events[1].id)
    _only("out_of_place", events[2].id)


def test_a_deleted_last_event_is_found_at_the_head(app, clock, tamper):
    case = _case(clock)
    events = _chain(case.id)
    _run(tamper, "DELETE FROM events WHERE id = :id", id=events[-1].id)
    _only("head_mismatch", events[-2].id)


def test_a_deleted_case_history_is_found(app, clock, tamper):
    case = _case(clock)
    _run(tamper, "DELETE FROM events WHERE case_id = :id", id=case.id)
    report = verify()
    assert [p.code for p in report.problems] == ["events_missing"]
    assert report.problems[0].chain == audit_chain.case_chain(case.id)


def test_an_inserted_event_is_found(app, clock, tamper):
    case = _case(clock)
    # without a link: not in any chain
    _run(
        tamper,
        "INSERT INTO events (case_id, order_id, kind, actor_role, actor_label, from_state,"
        " to_state, reason, data, created_at) VALUES (:c, :o, 'message', 'buyer', '', '', '',"
        " 'I agreed to everything', '{}', :t)",
        c=case.id,
        o=case.order_id,
        t=clock(),
    )
    inserted = db.session.scalar(select(func.max(Event.id)))
    _only("not_chained", inserted)


def test_an_event_inserted_with_a_good_link_at_the_end_is_found(app, clock, tamper):
    case = _case(clock)
    last = _chain(case.id)[-1]
    forged = {
        "chain": last.chain,
        "chain_seq": last.chain_seq + 1,
        "kind": "message",
        "case_id": case.id,
        "order_id": case.order_id,
        "payout_id": None,
        "actor_role": "buyer",
        "actor_id": None,
        "actor_label": "buyer",
        "from_state": "",
        "to_state": "",
        "reason": "I withdraw",
        "data": {},
        "created_at": clock(),
    }
    link = audit_chain.link_hash(last.hash, forged)
    _run(
        tamper,
        "INSERT INTO events (case_id, order_id, kind, actor_role, actor_label, from_state,"
        " to_state, reason, data, created_at, chain, chain_seq, prev_hash, hash) VALUES"
        " (:case_id, :order_id, 'message', 'buyer', 'buyer', '', '', 'I withdraw', '{}', :t,"
        " :chain, :seq, :prev, :hash)",
        case_id=case.id,
        order_id=case.order_id,
        t=clock(),
        chain=last.chain,
        seq=last.chain_seq + 1,
        prev=last.hash,
        hash=link,
    )
    report = verify()
    assert [p.code for p in report.problems] == ["head_mismatch"]


def test_reordered_events_are_found(app, clock, tamper):
    case = _case(clock)
    events = _chain(case.id)
    (a, a_seq), (b, b_seq) = ((e.id, e.chain_seq) for e in events[1:3])
    _run(tamper, "UPDATE events SET chain_seq = -1 WHERE id = :id", id=a)
    _run(tamper, "UPDATE events SET chain_seq = :s WHERE id = :id", s=a_seq, id=b)
    _run(tamper, "UPDATE events SET chain_seq = :s WHERE id = :id", s=b_seq, id=a)
    _only("link_broken", b)


def test_contents_swapped_between_rows_are_found(app, clock, tamper):
    case = _case(clock)
    events = _chain(case.id)
    (a, a_reason), (b, b_reason) = ((e.id, e.reason) for e in events[2:4])  # two messages
    _run(tamper, "UPDATE events SET reason = :r WHERE id = :id", r=b_reason, id=a)
    _run(tamper, "UPDATE events SET reason = :r WHERE id = :id", r=a_reason, id=b)
    _only("content_changed", a)


def test_an_event_moved_to_another_case_is_found(app, clock, tamper):
    one, other = _case(clock), _case(clock)
    victim = _chain(one.id)[3]
    _run(tamper, "UPDATE events SET case_id = :c WHERE id = :id", c=other.id, id=victim.id)
    _only("wrong_chain", victim.id)


def test_a_verify_of_a_broken_chain_reports_through_the_command(app, clock, tamper):
    case = _case(clock)
    victim = _chain(case.id)[1]
    _run(tamper, "UPDATE events SET reason = 'x' WHERE id = :id", id=victim.id)
    runner = CliRunner()
    result = runner.invoke(audit, ["verify"], obj=None, catch_exceptions=False)
    assert result.exit_code == 1
    assert f"first event that does not fit: content_changed: event #{victim.id}" in result.output
    clean = runner.invoke(audit, ["verify", "--case", str(_case(clock).id)])
    assert clean.exit_code == 0 and "verifies" in clean.output


# --- seals ---------------------------------------------------------------------------------


def test_a_day_is_sealed_once_and_the_seal_checks_without_the_portal(sealing, clock):
    case = _case(clock)
    day = seals.yesterday(clock())
    made = seals.seal_day(day)
    assert made.made and made.seal.seal_no == 1
    again = seals.seal_day(day)
    assert not again.made and again.seal.id == made.seal.id
    assert db.session.scalar(select(func.count()).select_from(AuditSeal)) == 1
    document = json.loads(json.dumps(seals.export(made.seal)))
    key = keys.public_key_text(keys.private_key())
    assert seals.check_document(document, key) == []
    chain = audit_chain.case_chain(case.id)
    named = {h["chain"]: h for h in document["heads"]}
    assert named[chain]["hash"] == _chain(case.id)[-1].hash
    forged = {**document, "heads": [{**h, "hash": "0" * 64} for h in document["heads"]]}
    assert "heads do not match the signed digest" in seals.check_document(forged, key)
    other_key = keys.public_key_text(keys._decode(keys.new_key_text()))
    assert seals.check_document(document, other_key)
    # the next day names only the chains that moved
    later = _case(clock)
    clock.advance(days=1)
    second = seals.seal_day(seals.yesterday(clock())).seal
    assert second.prev_hash == made.seal.seal_hash
    heads = {h["chain"] for h in seals.export(second)["heads"]}
    assert heads == {audit_chain.case_chain(later.id), *_order_chains(later)}
    assert verify().ok, verify().problems


def _order_chains(case: RefundCase) -> set[str]:
    return set(
        db.session.scalars(
            select(Event.chain).where(Event.order_id == case.order_id, Event.case_id.is_(None))
        )
    )


def test_a_consistent_rewrite_after_a_seal_is_caught_by_the_seal(sealing, clock, tamper):
    case = _case(clock)
    seals.seal_day(seals.yesterday(clock()))
    events = _chain(case.id)
    # the forger changes a message and recomputes every hash after it, and the head
    prev = events[1].hash
    for event in events[2:]:
        values = {name: getattr(event, name) for name in audit_chain.CONTENT_FIELDS}
        if event.chain_seq == 3:
            values["reason"] = "the buyer admitted using the code"
        link = audit_chain.link_hash(prev, values)
        tamper.execute(
            text("UPDATE events SET reason = :r, prev_hash = :p, hash = :h WHERE id = :id"),
            {"r": values["reason"], "p": prev, "h": link, "id": event.id},
        )
        prev = link
    tamper.execute(
        text("UPDATE audit_chain_heads SET hash = :h WHERE chain = :c"),
        {"h": prev, "c": audit_chain.case_chain(case.id)},
    )
    tamper.commit()
    db.session.expire_all()
    report = verify()
    assert [p.code for p in report.problems] == ["seal_mismatch"]
    assert report.first.event_id == events[-1].id


def test_a_backdated_event_added_after_a_seal_is_found(sealing, clock, tamper):
    case = _case(clock)
    clock.advance(hours=3)
    seals.seal_day(seals.yesterday(clock()))
    last = _chain(case.id)[-1]
    then = clock() - timedelta(hours=2)
    forged = {name: getattr(last, name) for name in audit_chain.CONTENT_FIELDS}
    forged |= {"chain_seq": last.chain_seq + 1, "reason": "late words", "created_at": then}
    forged["kind"] = "message"
    link = audit_chain.link_hash(last.hash, forged)
    tamper.execute(
        text(
            "INSERT INTO events (case_id, order_id, kind, actor_role, actor_label, from_state,"
            " to_state, reason, data, created_at, chain, chain_seq, prev_hash, hash) VALUES"
            " (:case_id, :order_id, :kind, :actor_role, :actor_label, :from_state, :to_state,"
            " :reason, :data, :t, :chain, :chain_seq, :prev, :hash)"
        ),
        {**forged, "data": json.dumps(forged["data"]), "t": then, "prev": last.hash, "hash": link},
    )
    tamper.execute(
        text("UPDATE audit_chain_heads SET seq = seq + 1, hash = :h WHERE chain = :c"),
        {"h": link, "c": last.chain},
    )
    tamper.commit()
    db.session.expire_all()
    report = verify()
    assert [p.code for p in report.problems] == ["unsealed"]


def test_a_sealed_history_deleted_whole_is_found(sealing, clock, tamper):
    case = _case(clock)
    seals.seal_day(seals.yesterday(clock()))
    tamper.execute(text("DELETE FROM events WHERE case_id = :id"), {"id": case.id})
    tamper.execute(
        text("DELETE FROM audit_chain_heads WHERE chain = :c"),
        {"c": audit_chain.case_chain(case.id)},
    )
    tamper.commit()
    db.session.expire_all()
    assert [p.code for p in verify().problems] == ["sealed_missing"]


def test_a_forged_or_removed_seal_is_found(sealing, clock, tamper):
    _case(clock)
    first = seals.seal_day(seals.yesterday(clock())).seal
    clock.advance(days=1)
    _case(clock)
    seals.seal_day(seals.yesterday(clock()))
    # a seal re-signed with the forger's own key
    forger = keys._decode(keys.new_key_text())
    signature, public = _sign_with(forger, first.payload.encode())
    tamper.execute(
        text("UPDATE audit_seals SET signature = :s, public_key = :k WHERE id = :id"),
        {"s": signature, "k": public, "id": first.id},
    )
    tamper.commit()
    db.session.expire_all()
    codes = [p.code for p in verify().problems]
    # and the history it alone covered is no longer anchored by any seal
    assert codes[0] == "seal_untrusted_key" and set(codes[1:]) <= {"unsealed"}
    # the first seal gone: the second no longer follows on
    tamper.execute(text("DELETE FROM audit_seal_heads WHERE seal_id = :id"), {"id": first.id})
    tamper.execute(text("DELETE FROM audit_seals WHERE id = :id"), {"id": first.id})
    tamper.commit()
    db.session.expire_all()
    assert "seal_link" in [p.code for p in verify().problems]


def _sign_with(key: Any, payload: bytes) -> tuple[str, str]:
    import base64

    return base64.b64encode(key.sign(payload)).decode(), keys.public_key_text(key)


def test_the_seal_job_is_enqueued_once_a_day_and_safe_twice(sealing, clock):
    from jobs import audit as audit_jobs
    from jobs.runtime import set_app

    set_app(sealing)
    _case(clock)
    day = seals.yesterday(clock())
    assert audit_jobs.enqueue_due_seal() == 1
    assert audit_jobs.seal_day(day) == 1
    assert audit_jobs.seal_day(day) == 1
    assert audit_jobs.enqueue_due_seal() == 0
    assert db.session.scalar(select(func.count()).select_from(AuditSeal)) == 1


def test_sealing_without_a_key_outside_development_is_refused(app, clock):
    app.config["TESTING"] = False
    app.config["ENVIRONMENT"] = "production"
    app.config["AUDIT_SEAL_KEY"] = None
    with pytest.raises(keys.SealKeyMissing):
        seals.seal_day("2026-03-09")
    from jobs import audit as audit_jobs

    assert audit_jobs.enqueue_due_seal() == 0  # no job that could only fail
    app.config["AUDIT_SEAL_KEY"] = "not base64!"
    with pytest.raises(keys.SealKeyMissing):
        seals.seal_day("2026-03-09")
    assert db.session.scalar(select(func.count()).select_from(AuditSeal)) == 0


def test_a_malformed_day_is_refused_before_anything_is_written(sealing):
    result = CliRunner().invoke(audit, ["seal", "--day", "2026-13-45"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditSeal)) == 0


# --- two writers, one chain ------------------------------------------------------------------


def test_writers_at_once_never_fork_a_chain(app, clock):
    case = _case(clock)
    case_id, order_id = case.id, case.order_id
    db.session.commit()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        with app.app_context():
            try:
                for i in range(8):
                    words = f"{n}-{i}"
                    commit(
                        lambda words=words: transitions.record(
                            "message", SYSTEM, case_id=case_id, order_id=order_id, reason=words
                        )
                    )
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    events = _chain(case_id)
    assert [e.chain_seq for e in events] == list(range(1, len(events) + 1))
    assert sum(e.kind == "message" and "-" in e.reason for e in events) == 24
    assert verify().ok, verify().problems


@pytest.mark.skipif(not PG_URL, reason="row locks between two sessions: PostgreSQL")
def test_a_second_writer_waits_for_the_first_and_follows_it(app, clock):
    case = _case(clock)
    case_id, order_id = case.id, case.order_id
    db.session.commit()
    first = db.session
    transitions.record("message", SYSTEM, case_id=case_id, order_id=order_id, reason="first")
    result: dict[str, Any] = {}

    def second() -> None:
        with app.app_context():
            try:
                commit(
                    lambda: transitions.record(
                        "message", SYSTEM, case_id=case_id, order_id=order_id, reason="second"
                    )
                )
                result["ok"] = True
            except Exception as exc:  # noqa: BLE001 - asserted below
                result["error"] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=second)
    thread.start()
    until_blocked(db.engine, thread, "the second writer never waited")
    assert thread.is_alive()
    first.commit()
    thread.join(30)
    assert result == {"ok": True}
    events = _chain(case_id)
    assert [e.reason for e in events[-2:]] == ["first", "second"]
    assert verify().ok, verify().problems


# --- the migration -------------------------------------------------------------------------


def test_the_migration_chains_the_events_already_there_in_order(app, clock):
    from tests.test_note_migration import _migrate

    made = [_case(clock) for _ in range(2)]
    made_ids = [(c.id, c.order_id) for c in made]
    _migrate("r23_risk", down=True)
    columns = {c["name"] for c in db.inspect(db.engine).get_columns("events")}
    assert "hash" not in columns
    with db.engine.begin() as conn:  # an event written before the chain existed
        conn.execute(
            text(
                "INSERT INTO events (case_id, order_id, kind, actor_role, actor_label,"
                " from_state, to_state, reason, data, created_at) VALUES (:c, :o, 'message',"
                " 'buyer', '', '', '', '旧的留言', '{\"n\": 1}', :t)"
            ),
            {"c": made_ids[0][0], "o": made_ids[0][1], "t": clock()},
        )
    _migrate("head")
    for case_id, _order_id in made_ids:
        events = _chain(case_id)
        assert [e.id for e in events] == sorted(e.id for e in events)
        assert [e.chain_seq for e in events] == list(range(1, len(events) + 1))
    first = made_ids[0][0]
    assert _chain(first)[-1].reason == "旧的留言"
    assert db.session.scalar(select(func.count()).where(Event.hash.is_(None))) == 0
    assert verify().ok, verify().problems
    # new events follow on from the chained ones
    commit(lambda: transitions.record("message", SYSTEM, case_id=first, order_id=made_ids[0][1]))
    assert _chain(first)[-1].chain_seq == len(_chain(first))
    assert verify().ok
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE events SET reason = 'x'"))


def test_the_commands_seal_export_and_check_a_day(sealing, clock, tmp_path):
    _case(clock)
    runner = CliRunner()
    made = runner.invoke(audit, ["seal", "--day", "2026-03-09"])
    assert made.exit_code == 0 and "2026-03-09 sealed: seal 1" in made.output
    again = runner.invoke(audit, ["seal", "--day", "2026-03-09"])
    assert "already sealed" in again.output
    exported = runner.invoke(audit, ["export-seal", "--day", "2026-03-09"])
    assert exported.exit_code == 0
    document = tmp_path / "seal.json"
    document.write_text(exported.output)
    checked = runner.invoke(audit, ["check-seal", str(document)])
    assert checked.exit_code == 0 and "the seal checks" in checked.output
    forged = json.loads(exported.output)
    forged["payload"] = forged["payload"].replace('"seal_no":1', '"seal_no":2')
    document.write_text(json.dumps(forged))
    refused = runner.invoke(audit, ["check-seal", str(document)])
    assert refused.exit_code == 1 and "signature does not match" in refused.output
    document.write_text("not json")
    assert "not a JSON document" in runner.invoke(audit, ["check-seal", str(document)]).output
    missing = runner.invoke(audit, ["export-seal", "--day", "2026-01-01"])
    assert missing.exit_code == 1 and "no seal for 2026-01-01" in missing.output
    key = runner.invoke(audit, ["public-key"])
    assert key.output.strip() == keys.public_key_text(keys.private_key())


def test_development_makes_its_key_once_in_the_instance_folder(app, tmp_path):
    app.config["AUDIT_SEAL_KEY"] = None
    app.instance_path = str(tmp_path)
    first = keys.public_key_text(keys.private_key())
    stored = tmp_path / keys.DEV_KEY_FILE
    assert stored.exists() and stored.stat().st_mode & 0o077 == 0
    assert keys.public_key_text(keys.private_key()) == first
    assert first in keys.trusted_public_keys()


# --- many links at once: the same bytes as one at a time ---

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_DATA = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=6), _VALUES, max_size=4),
    st.dictionaries(
        st.text(max_size=6), st.one_of(_VALUES, st.lists(_VALUES, max_size=3)), max_size=3
    ),
    st.dictionaries(st.integers(0, 9), _VALUES, max_size=2),  # keys become strings
)
_EVENTS = st.fixed_dictionaries(
    {
        "chain": st.sampled_from(["order:1", "case:22", "platform"]),
        "chain_seq": st.integers(1, 10**9),
        "kind": st.sampled_from(["order_received", "delivered", "transition", "备注😀"]),
        "case_id": st.one_of(st.none(), st.integers(1, 10**9)),
        "order_id": st.one_of(st.none(), st.integers(1, 10**9)),
        "payout_id": st.one_of(st.none(), st.integers(1, 10**9)),
        "actor_role": st.sampled_from(["merchant", "system"]),
        "actor_id": st.one_of(st.none(), st.integers(1, 10**6)),
        "actor_label": st.text(max_size=20),
        "from_state": st.text(max_size=5),
        "to_state": st.text(max_size=5),
        "reason": st.text(max_size=8),
        "data": _DATA,
        "created_at": st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]),
        ),
    }
)


@settings(max_examples=400, deadline=None)
@given(events=st.lists(_EVENTS, min_size=1, max_size=4), prev=st.text("0123456789abcdef"))
def test_the_linker_hashes_each_event_as_link_hash_does(events, prev):
    # one linker made from the first event's shared fields, used for every event that shares
    # them (as chain.link does), and one of each event's own
    first = events[0]
    for event in [first, *({**first, **_own(e)} for e in events[1:]), *events[1:]]:
        linker = audit_chain.Linker(event)
        own = _own(event)
        assert linker.canonical(*own.values()) == audit_chain.canonical(event)
        assert linker.link_hash(prev, *own.values()) == audit_chain.link_hash(prev, event)


def _own(event):
    return {name: event.get(name) for name in audit_chain.PER_EVENT}


@settings(max_examples=300, deadline=None)
@given(data=_DATA)
def test_normal_data_is_data_as_a_json_column_gives_it_back(data):
    normal = audit_chain.normal_data(data)
    back = json.loads(json.dumps(data or {}, sort_keys=True, ensure_ascii=False))
    assert normal == back
    assert list(normal) == list(back)  # and in the same key order


def test_new_owners_chains_are_begun_without_a_lock_or_a_read_and_never_the_platform_s(app, clock):
    from portal.services.audit import chain

    with pytest.raises(ValueError, match="platform"):
        chain.link([{"kind": "x", "case_id": None, "order_id": None}], new_owners=True)
