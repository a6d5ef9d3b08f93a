"""The review queue names each case's order and shop, and an appeal says who may not decide it;
loading them does not cost a query per row."""

from __future__ import annotations

from sqlalchemy import event

from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.services.actors import Actor
from portal.services.refunds import cases, disputes, queues
from tests import factories as f
from tests.conftest import Browser
from tests.test_dispute_pages import staff_login


def a_case(clock, shop_slug: str):
    m = f.merchant(shop_slug)
    order = f.order(clock(), m=m)
    return cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code rejected")
    )


def test_queue_rows_name_order_shop_and_the_appeal_rule(app, client, clock):
    plain = a_case(clock, "north-cards")
    appealed = a_case(clock, "south-keys")
    rejecter = f.staff("rejecter")
    rejecter.display_name = "王审核"
    db.session.commit()
    cases.reject(appealed, Actor(Role.REVIEWER, rejecter.id, "王审核"), "No proof")
    disputes.appeal(appealed, "The chat shows the code never worked", [])
    f.staff("queue-reader")
    browser = Browser(client)
    staff_login(browser, "queue-reader")
    page = client.get("/review/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    for case in (plain, appealed):
        assert case.order.order_no in page and case.order.merchant.name in page
    assert '须由 <bdi translate="no">王审核</bdi> 以外的审核员复核' in page


def test_the_queue_loads_its_rows_in_one_query(app, clock):
    for i in range(12):
        a_case(clock, f"shop-{i}")
    db.session.expire_all()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        rows = queues.review_queue().page.rows
        names = [(r.order_no, r.shop, r.rejected_by) for r in rows]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(names) == 12
    # the cases with a deadline, those without (none here, still asked), and the capped count
    assert len(statements) == 3, statements
