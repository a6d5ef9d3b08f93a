"""The lists' queries use their indexes: the statements the review queue (first page, a
filtered page, a page deep in the list, a search), the shop's list and the unread-notice count
really send are explained, on PostgreSQL (a few thousand rows, ANALYZEd: no sequential scan
of refund_cases or notices) and on SQLite (a SEARCH through an index, never a SCAN of them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text

from portal.domain import case_lists
from portal.domain.case_lists import CaseFilter, Cursor, Position
from portal.domain.policy import Reason
from portal.domain.states import State
from portal.extensions import db
from portal.models import Notice, Order, RefundCase
from portal.services.messaging import notices
from portal.services.refunds import queues
from tests import factories as f
from tests.test_case_lists import bulk_cases

WATCHED = ("refund_cases", "notices")
#: rows a page's query may sort (a selective filter's few matches); a list's order comes
#: from its index, never from sorting the list
SORT_MAX = 1000


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) sent while the block runs."""
    sent: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def _pg_scans(plan: dict) -> Iterator[tuple[str, str]]:
    """(node type, table) of every node; a sort is named with the rows it is estimated to
    sort: a few (a selective filter, found through an index) are fine, not a whole list."""
    table = plan.get("Relation Name", "")
    if plan["Node Type"] in ("Sort", "Incremental Sort"):
        table = str(max((c.get("Plan Rows", 0) for c in plan.get("Plans", [])), default=0))
    yield plan["Node Type"], table
    for child in plan.get("Plans", []):
        yield from _pg_scans(child)


def full_scans(statement: str, parameters: Any) -> list[str]:
    """The watched tables a statement reads whole, as the database's planner would run it;
    for a page of a list (ORDER BY ... LIMIT), also a sort: the index must give the order."""
    raw = db.session.connection().connection.dbapi_connection
    cur = raw.cursor()
    paged = "ORDER BY" in statement and "LIMIT" in statement
    if db.engine.dialect.name == "postgresql":
        cur.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan = cur.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
        nodes = list(_pg_scans(plan[0]["Plan"]))
        found = [
            f"Seq Scan on {table}"
            for node, table in nodes
            if node == "Seq Scan" and table in WATCHED
        ]
        found += [
            f"Sort of {rows} rows"
            for node, rows in nodes
            if paged and node in ("Sort", "Incremental Sort") and int(rows) > SORT_MAX
        ]
        return found
    cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
    details = [row[-1] for row in cur.fetchall()]
    found = [
        d
        for d in details
        if d.startswith("SCAN ")
        and d.split()[1] in WATCHED
        and "USING" not in d  # SCAN ... USING (COVERING) INDEX walks an index, in its order
    ]
    if paged:
        found += [d for d in details if "TEMP B-TREE FOR ORDER BY" in d]
    return found


@pytest.fixture
def big(app, clock):
    """3,000 open cases over 6 shops (some without a deadline), as many closed ones, and
    4,000 notices (mostly read), ANALYZEd."""
    shops = [f.merchant(f"plan-shop-{i}") for i in range(6)]
    for shop in shops:
        bulk_cases(clock, shop, 400, deadline_step=timedelta(minutes=7))
        bulk_cases(clock, shop, 50, state=State.APPEALED, appeal_count=1, reason=Reason.OTHER)
        bulk_cases(clock, shop, 50, state=State.PAYOUT_FAILED, deadline_step=None)
        bulk_cases(clock, shop, 500, state=State.REFUNDED, deadline_step=None, closed=True)
    order_ids = list(db.session.scalars(select(Order.id).limit(2000)))
    now = clock()
    db.session.execute(
        insert(Notice),
        [
            {
                "audience": ("buyer", "merchant", "staff")[i % 3],
                "order_id": oid,
                "merchant_id": shops[i % 6].id,
                "kind": "x",
                "message": "m",
                "params": {},
                "created_at": now,
                "read_at": None if i % 20 == 0 else now,
                "attempts": 0,
                "last_error": "",
            }
            for i, oid in enumerate(order_ids * 2)
        ],
    )
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE refund_cases, orders, notices, merchants, users"))
    else:
        db.session.execute(text("ANALYZE"))
    db.session.commit()
    return shops


def middle(shop_id: int | None = None) -> Cursor:
    query = select(RefundCase).where(RefundCase.deadline_at.is_not(None))
    if shop_id is not None:
        query = query.where(RefundCase.merchant_id == shop_id)
    case = db.session.scalars(query.order_by(RefundCase.deadline_at, RefundCase.id)).all()[333]
    return Cursor(Position(case.deadline_at, case.id))


def cases_no(n: int) -> str:
    return db.session.scalar(select(RefundCase.case_no).offset(n).limit(1))


def _lists(shops: list) -> dict[str, Callable[[], object]]:
    """Each list's call, its inputs (cursors, a case number) read beforehand."""
    deep, shop_deep, case_no = middle(), middle(shops[1].id), cases_no(1234)
    buyer_orders = list(db.session.scalars(select(Order.id).limit(3)))
    return {
        "queue, first page": lambda: queues.review_queue(),
        "queue, filtered": lambda: queues.review_queue(
            CaseFilter(shop_id=shops[2].id, reason=Reason.OTHER, min_fen=1)
        ),
        "queue, overdue and unassigned": lambda: queues.review_queue(
            CaseFilter(overdue=True, assigned=case_lists.Assigned.NOBODY)
        ),
        "queue, my cases": lambda: queues.review_queue(
            CaseFilter(assigned=case_lists.Assigned.ME), viewer_id=1
        ),
        "queue, deep page": lambda: queues.review_queue(cursor=deep),
        "queue, page back": lambda: queues.review_queue(
            cursor=Cursor(deep.position, backward=True)
        ),
        "queue, search": lambda: queues.review_queue(CaseFilter(search=case_no)),
        "queue, search by contact": lambda: queues.review_queue(
            CaseFilter(search="bulk@example.com")
        ),
        "shop's list": lambda: queues.merchant_cases(shops[1].id),
        "shop's list, deep": lambda: queues.merchant_cases(shops[1].id, cursor=shop_deep),
        "unread count": lambda: notices.unread_count(buyer_orders, shops[0].id, True),
    }


NAMES = [
    "queue, first page",
    "queue, filtered",
    "queue, overdue and unassigned",
    "queue, my cases",
    "queue, deep page",
    "queue, page back",
    "queue, search",
    "queue, search by contact",
    "shop's list",
    "shop's list, deep",
    "unread count",
]


def _is_sort(found: str) -> bool:
    return found.startswith("Sort") or "TEMP B-TREE" in found


@pytest.mark.parametrize("name", NAMES)
def test_each_list_reads_through_an_index(big, name):
    run = _lists(big)[name]
    with captured() as sent:
        run()
    assert sent, name
    searched = name.startswith("queue, search")  # a few rows found by number: sorting is fine
    problems = {
        stmt: scans
        for stmt, params in sent
        if (scans := [s for s in full_scans(stmt, params) if not (searched and _is_sort(s))])
    }
    assert problems == {}, name


def test_the_plans_are_explained_on_postgresql_too(app):
    """A reminder in the test report when this run is SQLite only."""
    from tests.conftest import PG_URL

    if not PG_URL:
        pytest.skip(
            "PostgreSQL not configured: set PORTAL_DATABASE_URL=postgresql+psycopg://... to "
            "explain the lists' plans on PostgreSQL"
        )
    assert db.engine.dialect.name == "postgresql"
