"""Old rows keep reading right: the migration moves the decision sentences older versions
wrote to note codes (and back on downgrade); a reviewer's own words stay as written; old
event rows, which no migration may change, are mapped when read."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import text

from portal.domain import legacy_notes
from portal.domain.notes import Note
from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.models import RefundCase
from portal.services.refunds import cases
from tests import factories as f

OLD_AUTO = "The order was not delivered by 2026-03-09 02:05, as its own times show."


def _decision(case_id: int) -> tuple[str, object]:
    row = db.session.execute(
        text("SELECT decision_note, decision_msg FROM refund_cases WHERE id = :i"), {"i": case_id}
    ).one()
    msg = row[1]
    return row[0], json.loads(msg) if isinstance(msg, str) else msg


def _migrate(revision: str, down: bool = False) -> None:
    from flask import current_app
    from flask_migrate import downgrade, upgrade

    from portal.infra.migrations import bind

    db.session.commit()
    db.session.remove()
    bind(current_app)
    (downgrade if down else upgrade)(revision=revision)


def test_old_decision_sentences_become_codes_and_people_s_words_stay(app, clock):
    mine = [f.order(clock()) for _ in range(4)]
    made = [
        cases.apply_for_refund(o, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x"))
        for o in mine
    ]
    ids = [c.id for c in made]
    _migrate("i9_order_no_per_shop", down=True)  # the schema as older versions had it
    for case_id, note in zip(
        ids,
        [OLD_AUTO, "offer #2 accepted", "merchant did not answer in time", "照片显示卡密已用过"],
        strict=True,
    ):
        db.session.execute(
            text("UPDATE refund_cases SET decision_note = :n WHERE id = :i"),
            {"n": note, "i": case_id},
        )
    db.session.commit()
    _migrate("head")
    assert [_decision(i) for i in ids] == [
        (
            "",
            {"code": "auto_not_delivered", "params": {"deadline_at": "2026-03-09T02:05:00+00:00"}},
        ),
        ("", {"code": "offer_accepted", "params": {}}),
        ("", {"code": "merchant_silent_approved", "params": {}}),
        ("照片显示卡密已用过", None),  # a reviewer's own words
    ]
    # and back: a downgrade writes the sentences the older code reads
    _migrate("i9_order_no_per_shop", down=True)
    notes = [
        db.session.execute(
            text("SELECT decision_note FROM refund_cases WHERE id = :i"), {"i": i}
        ).scalar_one()
        for i in ids
    ]
    assert notes == [
        OLD_AUTO,
        "offer accepted",
        "merchant did not answer in time",
        "照片显示卡密已用过",
    ]
    _migrate("head")
    assert db.session.get(RefundCase, ids[0]).decision_msg["code"] == "auto_not_delivered"


def test_old_event_sentences_are_recognised_when_read():
    assert legacy_notes.recognise(OLD_AUTO) == Note(
        "auto_not_delivered",
        {"deadline_at": datetime(2026, 3, 9, 2, 5, tzinfo=UTC).isoformat()},
    )
    assert legacy_notes.recognise("  offer #12 accepted ") == Note("offer_accepted")
    assert legacy_notes.recognise(
        "a bank payout settles only when it appears on an imported statement"
    ) == Note("awaiting_statement")
    # anything else is not guessed at: shown as written, labelled as an older record
    assert legacy_notes.recognise("offer #2 accepted, and more") is None
    assert legacy_notes.recognise("refund SUCCESS") is None
