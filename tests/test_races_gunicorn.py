"""The races of issue 18 as they happen in production: PostgreSQL, gunicorn with several worker
processes, real HTTP from browsers and from a shop's server, requests released together.

``tests/test_races.py`` makes each interleaving certain inside one process; here nothing is
arranged: the requests are sent at once to 4 gunicorn workers and the database decides. For
each race, whatever the order the workers got to it: no 5xx, every loser is told with 409
and a clear message, exactly one case (or decision, or payout) exists, and no more money is on
its way back than the order was paid.

Runs on the suite's PostgreSQL database when ``PORTAL_DATABASE_URL`` names one, else on a
database of its own on 127.0.0.1:5432; skipped, saying so, when no PostgreSQL answers there.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import func, make_url, select

from portal import create_app
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Order, Payment, Payout, RefundCase
from portal.services.actors import Actor
from portal.services.integration import api_keys
from portal.services.refunds import cases
from tests import factories as f
from tests.api_helpers import Shop
from tests.conftest import PG_URL, base_config
from tests.gunicorn_stack import (
    DEFAULT_SERVER,
    DeferredHttp,
    Visitor,
    all_at_once,
    gunicorn,
    gunicorn_env,
    own_database,
    postgres_unreachable,
)

pytestmark = pytest.mark.slow

WORKERS = 4
APPLY = {"kind": "refund_only", "reason": "unusable", "amount": "10", "explanation": "broken"}
STAFF_PASSWORD = "password-123"  # what tests.factories.staff gives every login


@dataclass
class Stack:
    app: Flask
    base: str
    log: Path


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, redis_url) -> Iterator[Stack]:
    server = PG_URL or DEFAULT_SERVER
    reason = postgres_unreachable(make_url(server))
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("gunicorn-races")
    with ExitStack() as cleanup:
        if PG_URL:
            url = request.getfixturevalue("template_db")  # the suite's database, migrated
        else:
            url = cleanup.enter_context(own_database(server, f"refund_portal_races_{os.getpid()}"))
        config = base_config(tmp, url, redis_url)
        app = create_app(config)
        with app.app_context():
            if PG_URL:
                tables = ", ".join(t.name for t in db.metadata.sorted_tables)
                with db.engine.begin() as conn:
                    conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            else:
                from portal.infra.migrations import upgrade

                upgrade()
            assert db.engine.dialect.name == "postgresql"
            log = tmp / "gunicorn.log"
            env = gunicorn_env(url, redis_url, tmp / "evidence")
            base = cleanup.enter_context(gunicorn(env, WORKERS, log))
            try:
                yield Stack(app, base, log)
            finally:
                db.session.remove()
                db.engine.dispose()


@pytest.fixture
def live(stack: Stack) -> Iterator[Stack]:
    yield stack
    # nothing the workers logged was an error (a 500 logs its traceback)
    text = stack.log.read_text(errors="replace")
    assert "Traceback" not in text and "Exception on" not in text, text[-4000:]


def now() -> datetime:
    return datetime.now(UTC)  # gunicorn's workers read the real clock


def buyer(live: Stack, order: Order) -> Visitor:
    b = Visitor(live.base)
    r = b.submit(
        "/", "/lookup", {"order_no": order.order_no, "contact": f.CONTACT, "password": f.PASSWORD}
    )
    assert r.status_code == 303, r.status_code
    return b


def reviewer(live: Stack, username: str) -> Visitor:
    f.staff(username)
    r_ = Visitor(live.base)
    r = r_.submit(
        "/staff/login", "/staff/login", {"username": username, "password": STAFF_PASSWORD}
    )
    assert r.status_code == 303, r.status_code
    return r_


def shop_of(live: Stack, order: Order) -> Shop:
    _, key = api_keys.create(order.merchant_id)
    return Shop(DeferredHttp(live.base), key)


def statuses(answers: list[requests.Response]) -> list[int]:
    return [a.status_code for a in answers]


def no_server_errors(answers: list[requests.Response]) -> None:
    assert all(a.status_code < 500 for a in answers), Counter(statuses(answers))


def cases_of(order_id: int) -> list[RefundCase]:
    db.session.expire_all()
    return list(db.session.scalars(select(RefundCase).where(RefundCase.order_id == order_id)))


def money_back(order_id: int) -> tuple[int, int, int]:
    """(paid, on its way back in payouts, approved on the order's cases), in fen."""
    paid = db.session.scalar(select(Payment.captured_fen).where(Payment.order_id == order_id))
    payouts = db.session.scalar(
        select(func.coalesce(func.sum(Payout.amount_fen), 0)).where(Payout.order_id == order_id)
    )
    approved = db.session.scalar(
        select(func.coalesce(func.sum(RefundCase.amount_approved_fen), 0)).where(
            RefundCase.order_id == order_id
        )
    )
    return int(paid), int(payouts), int(approved)


def assert_money_within_paid(order_id: int) -> None:
    paid, payouts, approved = money_back(order_id)
    assert payouts <= paid and approved <= paid, (paid, payouts, approved)


def told_in_409(answer: requests.Response, *phrases: str) -> None:
    assert answer.status_code == 409, answer.status_code
    body = answer.text
    assert any(p in body for p in phrases), body[:2000]


OPEN_CASE = "already has an open refund case"
LOST_RACE = "Someone else changed this"


def test_applications_against_api_cancellations_of_the_same_orders(live):
    """(a) On each of 10 orders, the buyer applies while the shop cancels the order: 20
    requests at once. One case per order, the buyer's or the cancellation's; the other side
    gets 409."""
    orders = [f.order(now()) for _ in range(10)]
    calls = []
    for order in orders:
        b = buyer(live, order)
        action, data = b.prepare(f"/orders/{order.order_no}/apply", "/apply", APPLY)
        calls.append(lambda b=b, action=action, data=data: b.post(action, data))
        calls.append(shop_of(live, order).post(f"/orders/{order.order_no}/cancel", {"reason": "x"}))
    answers = all_at_once(calls)
    no_server_errors(answers)
    outcomes: Counter[str] = Counter()
    for i, order in enumerate(orders):
        applied, cancelled = answers[2 * i], answers[2 * i + 1]
        found = cases_of(order.id)
        assert len(found) == 1, [(c.reason, c.state) for c in found]
        db.session.refresh(order)
        if applied.status_code == 303:
            outcomes["application won"] += 1
            assert found[0].reason == str(Reason.UNUSABLE) and found[0].state == "submitted"
            assert cancelled.status_code == 409, cancelled.text
            assert "open refund case" in cancelled.json()["detail"]
            assert order.cancelled_at is None
            assert money_back(order.id)[1] == 0
        else:
            outcomes["cancellation won"] += 1
            assert cancelled.status_code == 200, cancelled.text
            told_in_409(applied, OPEN_CASE, LOST_RACE)
            assert found[0].reason == str(Reason.CANCELLED) and order.cancelled_at is not None
            paid, payouts, _ = money_back(order.id)
            assert payouts == paid  # the whole amount goes back, once
        assert_money_within_paid(order.id)
    print(f"\n(a) 20 requests on 10 orders: {dict(outcomes)}")


def rejected_case(username: str) -> RefundCase:
    order = f.order(now())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 1000, "bad code")
    )
    rev = f.staff(username)
    cases.reject(case, Actor(Role.REVIEWER, rev.id, "A"), "The code works")
    return case


def test_appeals_against_new_applications_on_the_same_orders(live):
    """(b) On each of 6 orders with a rejected case, the buyer appeals in one tab and applies
    anew in another: 12 requests at once. One open case per order; the other request gets 409."""
    rejected = [rejected_case(f"rej-{i}") for i in range(6)]
    calls = []
    for case in rejected:
        appeal_tab = buyer(live, case.order)
        apply_tab = appeal_tab.tab()
        statement = {"statement": "The code never worked, see the chat log"}
        a_action, a_data = appeal_tab.prepare(f"/cases/{case.case_no}/appeal", "/appeal", statement)
        n_action, n_data = apply_tab.prepare(
            f"/orders/{case.order.order_no}/apply", "/apply", APPLY
        )
        calls.append(lambda t=appeal_tab, a=a_action, d=a_data: t.post(a, d))
        calls.append(lambda t=apply_tab, a=n_action, d=n_data: t.post(a, d))
    answers = all_at_once(calls)
    no_server_errors(answers)
    outcomes: Counter[str] = Counter()
    for i, case in enumerate(rejected):
        appealed, applied = answers[2 * i], answers[2 * i + 1]
        found = cases_of(case.order_id)
        open_ = [c for c in found if c.open_order_id is not None]
        assert len(open_) == 1, [(c.id, c.state) for c in found]
        if appealed.status_code == 303:
            outcomes["appeal won"] += 1
            told_in_409(applied, OPEN_CASE, LOST_RACE)
            assert len(found) == 1 and open_[0].id == case.id and open_[0].state == "appealed"
        else:
            outcomes["new application won"] += 1
            assert applied.status_code == 303, applied.status_code
            told_in_409(appealed, OPEN_CASE, LOST_RACE)
            assert len(found) == 2 and open_[0].id != case.id
            assert next(c for c in found if c.id == case.id).state == "rejected"
        assert_money_within_paid(case.order_id)
    print(f"\n(b) 12 requests on 6 orders: {dict(outcomes)}")


def test_two_approvals_and_a_double_submit_of_the_same_case(live):
    """(c) On each of 5 cases, reviewer A submits the approval twice (two tabs) while reviewer
    B approves too: 15 requests at once. One decision, one payout of the amount asked, and
    two 409s per case."""
    a, b = reviewer(live, "race-a"), reviewer(live, "race-b")
    a_again = a.tab()
    filed = []
    for _ in range(5):
        order = f.order(now())
        filed.append(
            cases.apply_for_refund(
                order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 6000, "bad code")
            )
        )
    calls = []
    for case in filed:
        page = f"/review/cases/{case.case_no}"
        for who in (a, a_again, b):
            action, data = who.prepare(page, "/approve", {"approve-amount": ""})
            calls.append(lambda who=who, action=action, data=data: who.post(action, data))
    answers = all_at_once(calls)
    no_server_errors(answers)
    losers: Counter[str] = Counter()
    for i, case in enumerate(filed):
        mine = answers[3 * i : 3 * i + 3]
        assert sorted(statuses(mine)) == [303, 409, 409], [
            (x.status_code, re.findall(r'role="alert">([^<]*)', x.text)) for x in mine
        ]
        for lost in (x for x in mine if x.status_code == 409):
            told_in_409(lost, LOST_RACE, "not possible while the case is")
            losers["moved on" if "not possible" in lost.text else "lost the update"] += 1
        db.session.expire_all()
        decided = db.session.scalars(
            select(Event.to_state).where(Event.case_id == case.id, Event.kind == "transition")
        ).all()
        assert decided == ["approved", "refunding"], decided
        payouts = db.session.scalars(select(Payout).where(Payout.case_id == case.id)).all()
        assert [p.amount_fen for p in payouts] == [6000]
        assert_money_within_paid(case.order_id)
    print(f"\n(c) 15 requests on 5 cases: 5 approvals, 10 refusals {dict(losers)}")


def test_many_applications_at_once_on_one_order(live):
    """(d) 24 tabs of one buyer apply to the same order at once: one case, 23 answers 409."""
    order = f.order(now())
    first = buyer(live, order)
    tabs = [first] + [first.tab() for _ in range(23)]
    calls = []
    for tab in tabs:
        action, data = tab.prepare(f"/orders/{order.order_no}/apply", "/apply", APPLY)
        calls.append(lambda tab=tab, action=action, data=data: tab.post(action, data))
    answers = all_at_once(calls)
    no_server_errors(answers)
    counted = Counter(statuses(answers))
    assert counted == {303: 1, 409: 23}, counted
    for lost in (x for x in answers if x.status_code == 409):
        told_in_409(lost, OPEN_CASE, LOST_RACE)
    assert len(cases_of(order.id)) == 1
    assert_money_within_paid(order.id)
    lost_race = sum(LOST_RACE in x.text for x in answers)
    print(f"\n(d) 24 requests on 1 order: {dict(counted)}; {lost_race} of the 409s lost at commit")


def test_without_postgresql_the_races_are_skipped_saying_why():
    from tests.gunicorn_stack import free_port

    port = free_port()  # nothing listens there
    reason = postgres_unreachable(make_url(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x"))
    assert reason is not None
    assert f"PostgreSQL is not reachable at 127.0.0.1:{port}" in reason
    assert "PORTAL_DATABASE_URL" in reason
