"""The risk migration adds its columns with defaults for the rows already there, its tables
and indexes, and goes back down cleanly."""

from __future__ import annotations

from sqlalchemy import inspect, text

from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.services.refunds import cases
from tests import factories as f
from tests.test_note_migration import _migrate

TABLES = {"risk_rules", "risk_watch_list", "shop_fast_lane"}


def _columns(table: str) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns(table)}


def test_risk_migration_down_and_up_keeps_the_cases(app, clock):
    case = cases.apply_for_refund(
        f.order(clock()), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
    )
    case_id = case.id
    db.session.commit()
    _migrate("r22_reconciliation", down=True)
    assert not TABLES & set(inspect(db.engine).get_table_names())
    assert "risk_level" not in _columns("refund_cases") and "payer_id" not in _columns("payments")
    _migrate("head")
    assert TABLES <= set(inspect(db.engine).get_table_names())
    row = db.session.execute(
        text("SELECT risk_level, applicant_address FROM refund_cases WHERE id = :id"),
        {"id": case_id},
    ).one()
    assert tuple(row) == ("", "")  # filed before risk existed: not assessed, no address
    assert db.session.execute(text("SELECT payer_id FROM payments")).scalars().all() == [""]
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("refund_cases")}
    assert "ix_refund_cases_address_created" in indexes
    # an expression index (the inspector does not list those on SQLite): ask the catalogue
    catalogue = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'orders'"
        if db.engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders'"
    )
    assert "ix_orders_contact_normal" in db.session.execute(text(catalogue)).scalars().all()
