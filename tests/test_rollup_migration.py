"""The dashboards' migration copies each existing case's product and payment route from its
order, and goes back down cleanly."""

from __future__ import annotations

from sqlalchemy import inspect, text

from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.services.refunds import cases
from tests import factories as f
from tests.test_note_migration import _migrate


def test_existing_cases_get_their_orders_product_and_route(app, clock):
    shop = f.merchant()
    made = [
        cases.apply_for_refund(
            f.order(clock(), m=shop, channel=("fakepay", "otherpay")[i % 2]),
            cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x"),
        )
        for i in range(4)
    ]
    expected = {c.id: (c.order.product_id, c.order.payment.channel) for c in made}
    assert len(set(expected.values())) == 4
    assert {c.id: (c.product_id, c.channel) for c in made} == expected  # copied when filed
    _migrate("r28_bank_recon", down=True)  # the schema before
    columns = {c["name"] for c in inspect(db.engine).get_columns("refund_cases")}
    assert "product_id" not in columns and "channel" not in columns
    _migrate("head")
    rows = db.session.execute(text("SELECT id, product_id, channel FROM refund_cases")).all()
    assert {r[0]: (r[1], r[2]) for r in rows} == expected
