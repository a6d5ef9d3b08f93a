"""The migration that puts the shop on each case fills it for the cases already there, builds
the lists' indexes, and goes back down cleanly."""

from __future__ import annotations

from sqlalchemy import inspect, text

from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.services.refunds import cases
from tests import factories as f
from tests.test_note_migration import _migrate

INDEXES = {
    ("refund_cases", "ix_refund_cases_open_deadline"),
    ("refund_cases", "ix_refund_cases_open_shop_deadline"),
    ("refund_cases", "ix_refund_cases_open_assignee_deadline"),
    ("orders", "ix_orders_buyer_contact"),
    ("notices", "ix_notices_unread_order"),
    ("notices", "ix_notices_unread_merchant"),
}


def _indexes() -> set[tuple[str, str]]:
    found = inspect(db.engine)
    return {
        (table, ix["name"])
        for table in ("refund_cases", "orders", "notices")
        for ix in found.get_indexes(table)
    }


def test_existing_cases_get_their_orders_shop(app, clock):
    shops = [f.merchant(), f.merchant()]
    made = [
        cases.apply_for_refund(
            f.order(clock(), m=shops[i % 2]),
            cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x"),
        )
        for i in range(4)
    ]
    expected = {c.id: c.order.merchant_id for c in made}
    _migrate("x1_notice_channels", down=True)  # the schema before: no shop on the case
    columns = {c["name"] for c in inspect(db.engine).get_columns("refund_cases")}
    assert "merchant_id" not in columns and "assignee_id" not in columns
    assert not INDEXES & _indexes()
    _migrate("head")
    rows = db.session.execute(text("SELECT id, merchant_id FROM refund_cases")).all()
    assert dict(rows) == expected
    assert INDEXES <= _indexes()
