"""Races that end in a unique index: the loser gets 409 and a clear message, never a 500.

Two requests race for the one open case an order may have (``refund_cases.open_order_id`` is
unique): a buyer's application against the shop's API cancellation, and an appeal (which
reopens a rejected case) against a new application. Each race is run two ways, on SQLite and
on PostgreSQL (PORTAL_DATABASE_URL):

* interleaved on purpose: the losing request is stopped right after its "no open case" check
  and the winner runs, whole, in another thread and commits; then the loser goes on and meets
  the unique index (the window a real race falls into, made certain);
* at once: several threads released together by a barrier, no stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from portal.domain.states import Role
from portal.extensions import db
from portal.models import RefundCase
from portal.services.actors import Actor
from portal.services.integration import api_keys
from portal.services.refunds import cases, disputes
from tests import factories as f
from tests.api_helpers import Shop
from tests.conftest import PG_URL, Browser, FreshGClient, csrf_from

APPLY = {"kind": "refund_only", "reason": "unusable", "amount": "10", "explanation": "broken"}


def buyer(app, order) -> Browser:
    app.test_client_class = FreshGClient
    b = Browser(app.test_client())
    r = b.submit(
        "/", "/lookup", {"order_no": order.order_no, "contact": f.CONTACT, "password": f.PASSWORD}
    )
    assert r.status_code == 303
    return b


def twin(app, b: Browser) -> Browser:
    """Another client with the same buyer cookie (a second tab, another request at once)."""
    app.test_client_class = FreshGClient
    other = app.test_client()
    c = b.client.get_cookie("session", domain="portal.test")
    other.set_cookie("session", c.value, domain="portal.test")
    return Browser(other)


def form_poster(b: Browser, page: str) -> Callable[..., object]:
    """Read the page's token now (before any hook is armed); post with it later."""
    token = csrf_from(b.get(page).get_data(as_text=True))

    def post(action: str, data: dict, **kw: object):
        return b.client.post(action, data={"csrf_token": token, **data}, **kw)

    return post


def in_other_thread(app, fn: Callable[[], object]) -> object:
    """Run ``fn`` to the end in another thread, with its own app context and connection."""
    out: dict[str, object] = {}

    def run() -> None:
        with app.app_context():
            try:
                out["value"] = fn()
            finally:
                db.session.remove()

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    return out.get("value")


def after_check(monkeypatch, owner: object, name: str, winner: Callable[[], None]) -> None:
    """Let the loser's next call of ``owner.name`` (its last check) pass, then run the
    winner to the end before the loser goes on to write."""
    real = getattr(owner, name)
    fired = []

    def check(*args, **kwargs):
        found = real(*args, **kwargs)
        if not fired:
            fired.append(True)
            winner()
        return found

    monkeypatch.setattr(owner, name, check)


def open_cases(order_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).select_from(RefundCase).where(RefundCase.open_order_id == order_id)
    )


def shop_for(app, order) -> Shop:
    _, key = api_keys.create(order.merchant_id)
    app.test_client_class = FreshGClient
    return Shop(app.test_client(), key)


def test_application_loses_to_an_api_cancellation(app, clock, monkeypatch):
    order = f.order(clock())
    b = buyer(app, order)
    shop = shop_for(app, order)
    answers = []

    def cancel() -> None:
        r = in_other_thread(
            app, lambda: shop.post(f"/orders/{order.order_no}/cancel", {"reason": "out of stock"})
        )
        answers.append(r.status_code)

    url = f"/orders/{order.order_no}/apply"
    post = form_poster(b, url)
    after_check(monkeypatch, cases, "eligibility", cancel)
    r = post(url, APPLY)
    assert answers == [200]
    assert r.status_code == 409, r.status_code
    assert "already has an open refund case" in r.get_data(as_text=True)
    assert open_cases(order.id) <= 1
    assert db.session.scalar(select(func.count()).select_from(RefundCase)) == 1


def test_application_loses_in_chinese(app, clock, monkeypatch):
    order = f.order(clock())
    b = buyer(app, order)
    shop = shop_for(app, order)
    url = f"/orders/{order.order_no}/apply"
    post = form_poster(b, url)
    after_check(
        monkeypatch,
        cases,
        "eligibility",
        lambda: in_other_thread(
            app, lambda: shop.post(f"/orders/{order.order_no}/cancel", {"reason": "x"})
        ),
    )
    r = post(url, APPLY, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 409
    body = r.get_data(as_text=True)
    assert "该订单已有进行中的售后单。" in body
    assert "already has" not in body


@pytest.mark.skipif(
    not PG_URL,
    reason="on SQLite the cancellation's idempotency row holds the write lock, so the "
    "application waits for it and then loses: that is the race above",
)
def test_api_cancellation_loses_to_an_application(app, clock, monkeypatch):
    from portal.services.refunds import cancellations

    order = f.order(clock())
    b = buyer(app, order)
    shop = shop_for(app, order)
    url = f"/orders/{order.order_no}/apply"
    page_token = csrf_from(b.get(url).get_data(as_text=True))
    answers = []

    def apply() -> None:
        r = in_other_thread(
            app, lambda: b.client.post(url, data={"csrf_token": page_token, **APPLY})
        )
        answers.append(r.status_code)

    after_check(monkeypatch, cancellations.orders, "refundable_fen", apply)
    r = shop.post(f"/orders/{order.order_no}/cancel", {"reason": "out of stock"})
    assert answers == [303]
    assert r.status_code == 409, (r.status_code, r.get_data(as_text=True))
    assert "open refund case" in r.get_json()["detail"]
    assert open_cases(order.id) == 1


def rejected_case(clock):
    order = f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(cases.Kind.REFUND_ONLY, cases.Reason.UNUSABLE, 1000, "bad code")
    )
    rev = f.staff("rev-a")
    cases.reject(case, Actor(Role.REVIEWER, rev.id, "A"), "The code works")
    return order, case


def test_appeal_loses_to_a_new_application(app, clock, monkeypatch):
    order, case = rejected_case(clock)
    b = buyer(app, order)
    other = twin(app, b)
    url = f"/orders/{order.order_no}/apply"
    apply_token = csrf_from(other.get(url).get_data(as_text=True))
    answers = []

    def apply() -> None:
        r = in_other_thread(
            app, lambda: other.client.post(url, data={"csrf_token": apply_token, **APPLY})
        )
        answers.append(r.status_code)

    appeal = f"/cases/{case.case_no}/appeal"
    post = form_poster(b, appeal)
    after_check(monkeypatch, disputes.orders, "open_case", apply)
    r = post(appeal, {"statement": "The code never worked, see the chat log"})
    assert answers == [303], answers
    assert r.status_code == 409, r.status_code
    assert "Someone else changed this" in r.get_data(as_text=True)
    assert open_cases(order.id) == 1
    db.session.expire_all()
    assert db.session.get(RefundCase, case.id).state == "rejected"


def test_new_application_loses_to_an_appeal(app, clock, monkeypatch):
    order, case = rejected_case(clock)
    b = buyer(app, order)
    other = twin(app, b)
    appeal = f"/cases/{case.case_no}/appeal"
    appeal_token = csrf_from(other.get(appeal).get_data(as_text=True))
    data = {"csrf_token": appeal_token, "statement": "The code never worked, see the chat log"}
    answers = []

    def do_appeal() -> None:
        r = in_other_thread(app, lambda: other.client.post(appeal, data=data))
        answers.append(r.status_code)

    url = f"/orders/{order.order_no}/apply"
    post = form_poster(b, url)
    after_check(monkeypatch, cases, "eligibility", do_appeal)
    r = post(url, APPLY)
    assert answers == [303], answers
    assert r.status_code == 409, r.status_code
    assert open_cases(order.id) == 1


def test_many_at_once_end_in_one_case_and_no_500(app, clock):
    """Applications from several tabs and a cancellation, released together."""
    order = f.order(clock())
    b = buyer(app, order)
    shop = shop_for(app, order)
    url = f"/orders/{order.order_no}/apply"
    tabs = [twin(app, b) for _ in range(4)]
    tokens = [csrf_from(t.get(url).get_data(as_text=True)) for t in tabs]
    barrier = threading.Barrier(len(tabs) + 1)
    statuses: list[int] = []
    lock = threading.Lock()

    def run(fn: Callable[[], object]) -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                r = fn()
                with lock:
                    statuses.append(r.status_code)  # type: ignore[attr-defined]
            finally:
                db.session.remove()

    jobs = [
        threading.Thread(
            target=run,
            args=(lambda t=t, k=k: t.client.post(url, data={"csrf_token": k, **APPLY}),),
        )
        for t, k in zip(tabs, tokens, strict=True)
    ]
    jobs.append(
        threading.Thread(
            target=run,
            args=(lambda: shop.post(f"/orders/{order.order_no}/cancel", {"reason": "x"}),),
        )
    )
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(60)
    assert len(statuses) == len(jobs)
    assert 500 not in statuses, statuses
    assert set(statuses) <= {200, 303, 409, 422}, statuses
    assert open_cases(order.id) <= 1


def test_an_approval_a_moment_late_is_told_the_case_moved_on(app, browser, clock, monkeypatch):
    """Reviewer A's approval has read the case when reviewer B's approval commits. A must hear
    that the case moved on (409), not that the money B's payout just took is "more than is
    still refundable" (a 422 naming the wrong reason, as it was)."""
    case = cases.apply_for_refund(
        f.order(clock()),
        cases.ApplyInput(cases.Kind.REFUND_ONLY, cases.Reason.UNUSABLE, 6000, "bad code"),
    )
    case_id = case.id
    f.staff("rev-a")
    b = f.staff("rev-b")
    login = browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-a", "password": "password-123"}
    )
    assert login.status_code == 303
    page = f"/review/cases/{case.case_no}"
    post = form_poster(browser, page)

    def other_reviewer_approves() -> None:
        in_other_thread(
            app,
            lambda: cases.approve(
                db.session.get(RefundCase, case_id), Actor(Role.REVIEWER, b.id, "B")
            ),
        )

    after_check(monkeypatch, cases, "check_allowed", other_reviewer_approves)
    r = post(page + "/approve", {"approve-amount": ""})
    assert r.status_code == 409, r.status_code
    assert "Someone else changed this case" in r.get_data(as_text=True)
    from portal.models import Payout

    db.session.expire_all()
    assert db.session.scalars(select(Payout.amount_fen)).all() == [6000]


def test_a_cancellation_between_the_check_and_the_rules_is_told_as_the_open_case(
    app, clock, monkeypatch
):
    """The shop's cancellation commits after the application found no open case but before
    the rules measured the order: the rules then see the money its refund took. The buyer is
    told the order has an open case (409), not a figure the cancellation moved under them."""
    order = f.order(clock())
    b = buyer(app, order)
    shop = shop_for(app, order)
    answers = []

    def cancel() -> None:
        r = in_other_thread(
            app, lambda: shop.post(f"/orders/{order.order_no}/cancel", {"reason": "out of stock"})
        )
        answers.append(r.status_code)

    url = f"/orders/{order.order_no}/apply"
    post = form_poster(b, url)
    after_check(monkeypatch, cases.orders, "open_case", cancel)
    r = post(url, APPLY)
    assert answers == [200]
    assert r.status_code == 409, r.status_code
    assert "already has an open refund case" in r.get_data(as_text=True)
    assert open_cases(order.id) == 1
