"""The buyer's path through the Flask client: plain form posts and htmx requests."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, Evidence, RefundCase
from tests import factories as f
from tests.images import PNG


def _reviewer():
    from portal.domain.states import Role
    from portal.services.actors import Actor

    user = f.staff()
    return Actor(Role.REVIEWER, user.id, user.display_name)


def login_order(browser, order, password=f.PASSWORD):
    return browser.submit(
        "/", "/lookup", {"order_no": order.order_no, "contact": f.CONTACT, "password": password}
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_lookup_wrong_guesses_get_one_message_and_no_access(app, browser, clock):
    order = f.order(clock())
    r = login_order(browser, order, password="wrong")
    assert r.status_code == 422
    assert "No order matches" in r.get_data(as_text=True)
    r = browser.submit(
        "/", "/lookup", {"order_no": "NOPE", "contact": f.CONTACT, "password": f.PASSWORD}
    )
    assert r.status_code == 422
    assert browser.get(f"/orders/{order.order_no}").status_code == 303


def test_lookup_is_rate_limited(app, browser, clock):
    app.config["LOOKUP_RATE_LIMIT"] = "3 per minute"
    order = f.order(clock())
    codes = [login_order(browser, order, password="bad").status_code for _ in range(4)]
    assert codes[:3] == [422, 422, 422]
    assert codes[3] == 429


def test_apply_plain_form_with_evidence(app, browser, clock):
    order = f.order(clock())
    assert login_order(browser, order).status_code == 303
    page = browser.get(f"/orders/{order.order_no}")
    assert "100.00" in page.get_data(as_text=True)
    r = browser.submit(
        f"/orders/{order.order_no}/apply",
        f"/orders/{order.order_no}/apply",
        {
            "kind": "refund_only",
            "reason": "unusable",
            "amount": "",
            "explanation": "The code says already used",
            "files": (io.BytesIO(PNG), "shot.png"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    case = db.session.scalar(select(RefundCase))
    assert r.location.endswith(f"/cases/{case.case_no}")
    assert case.state == "submitted"
    assert case.amount_requested_fen == 10000  # defaulted to the refundable rest
    assert case.deadline_at is not None and case.deadline_kind == "review"
    ev = db.session.scalar(select(Evidence))
    assert ev.content_type == "image/png" and ev.case_id == case.id
    page = browser.get(r.location).get_data(as_text=True)
    assert case.case_no in page and "The code says already used" in page


def test_refusal_is_immediate_names_rule_and_writes_nothing(app, browser, clock):
    order = f.order(clock(), used=True)
    login_order(browser, order)
    r = browser.submit(
        f"/orders/{order.order_no}/apply",
        f"/orders/{order.order_no}/apply",
        {
            "kind": "refund_only",
            "reason": "unusable",
            "amount": "",
            "explanation": "x",
            "files": (io.BytesIO(PNG), "shot.png"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 422
    assert "activated or used" in r.get_data(as_text=True)
    assert count(RefundCase) == 0 and count(Evidence) == 0 and count(Event) == 0
    assert not list(
        (
            app.config["EVIDENCE_DIR"] and __import__("pathlib").Path(app.config["EVIDENCE_DIR"])
        ).glob("*")
    )


@pytest.mark.parametrize(
    ("amount", "message"),
    [("100.01", "at most 100.00"), ("abc", "Enter an amount"), ("-3", "Enter an amount")],
)
def test_bad_amounts_keep_the_form(app, browser, clock, amount, message):
    order = f.order(clock())
    login_order(browser, order)
    r = browser.submit(
        f"/orders/{order.order_no}/apply",
        f"/orders/{order.order_no}/apply",
        {"kind": "refund_only", "reason": "unusable", "amount": amount, "explanation": "keep me"},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert message in html
    assert "keep me" in html  # nothing the buyer typed is lost
    assert count(RefundCase) == 0


def test_bad_file_is_refused_and_form_kept(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    r = browser.submit(
        f"/orders/{order.order_no}/apply",
        f"/orders/{order.order_no}/apply",
        {
            "kind": "refund_only",
            "reason": "unusable",
            "explanation": "keep me",
            "files": (io.BytesIO(b"<svg onload=alert(1)>"), "evil.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "not an accepted file" in html and "keep me" in html
    assert count(RefundCase) == 0 and count(Evidence) == 0


def test_second_open_case_is_refused(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    data = {"kind": "refund_only", "reason": "unusable", "amount": "10", "explanation": "first"}
    url = f"/orders/{order.order_no}/apply"
    assert browser.submit(url, url, data).status_code == 303
    # a second post with a token from an old page
    from tests.conftest import csrf_from

    token = csrf_from(browser.get("/").get_data(as_text=True))
    r = browser.client.post(url, data={**data, "csrf_token": token})
    assert r.status_code == 409  # the same answer as an application that loses a race
    assert "already has an open refund case" in r.get_data(as_text=True)
    assert count(RefundCase) == 1


def test_missing_or_forged_csrf_is_refused(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    url = f"/orders/{order.order_no}/apply"
    data = {"kind": "refund_only", "reason": "unusable", "explanation": "x"}
    assert browser.client.post(url, data=data).status_code == 400
    assert browser.client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    assert count(RefundCase) == 0


def test_not_delivered_is_approved_at_once_from_the_orders_times(app, browser, clock):
    order = f.order(clock(), paid_ago=timedelta(minutes=30), delivered_after=None)
    login_order(browser, order)
    url = f"/orders/{order.order_no}/apply"
    r = browser.submit(
        url, url, {"kind": "refund_only", "reason": "not_delivered", "explanation": ""}
    )
    assert r.status_code == 303
    case = db.session.scalar(select(RefundCase))
    assert case.state == "refunding" and case.auto_rule == "not_delivered_proven"
    assert case.amount_approved_fen == 10000


def test_withdraw_plain_and_htmx(app, browser, clock):
    for htmx in (False, True):
        order = f.order(clock())
        login_order(browser, order)
        url = f"/orders/{order.order_no}/apply"
        r = browser.submit(
            url, url, {"kind": "refund_only", "reason": "unusable", "explanation": "x"}
        )
        case_url = r.location
        r = browser.submit(case_url, case_url + "/withdraw", {}, htmx=htmx)
        if htmx:
            assert r.status_code == 200
            html = r.get_data(as_text=True)
            assert html.lstrip().startswith('<section id="case-status">') and "<html" not in html
            assert "Withdrawn" in html
        else:
            assert r.status_code == 303 and r.location.endswith(case_url.split("portal.test")[-1])
        case = db.session.scalar(select(RefundCase).where(RefundCase.order_id == order.id))
        assert case.state == "withdrawn" and case.open_order_id is None


def test_answer_request_for_more_material(app, browser, clock):
    from portal.services.refunds import cases

    order = f.order(clock())
    login_order(browser, order)
    url = f"/orders/{order.order_no}/apply"
    case_url = browser.submit(
        url, url, {"kind": "refund_only", "reason": "unusable", "explanation": "x"}
    ).location
    case = db.session.scalar(select(RefundCase))
    cases.request_info(case, _reviewer(), "Upload the error screenshot")
    page = browser.get(case_url).get_data(as_text=True)
    assert "Upload the error screenshot" in page
    r = browser.submit(
        case_url,
        case_url + "/answer",
        {
            "text": "",
        },
    )
    assert r.status_code == 422 and "Add an answer" in r.get_data(as_text=True)
    r = browser.submit(
        case_url,
        case_url + "/answer",
        {"text": "here", "files": (io.BytesIO(PNG), "err.png")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    db.session.expire_all()
    case = db.session.scalar(select(RefundCase))
    assert case.state == "under_review" and len(case.evidence) == 1


def test_reapply_after_rejection(app, browser, clock):
    from portal.services.refunds import cases

    order = f.order(clock())
    login_order(browser, order)
    url = f"/orders/{order.order_no}/apply"
    browser.submit(url, url, {"kind": "refund_only", "reason": "unusable", "explanation": "x"})
    case = db.session.scalar(select(RefundCase))
    cases.reject(case, _reviewer(), "No proof")
    page = browser.get(f"/cases/{case.case_no}").get_data(as_text=True)
    assert "No proof" in page and "apply again" in page
    r = browser.submit(
        url, url, {"kind": "refund_only", "reason": "unusable", "explanation": "with proof now"}
    )
    assert r.status_code == 303
    assert count(RefundCase) == 2


def test_other_people_cannot_see_the_case(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    url = f"/orders/{order.order_no}/apply"
    case_url = browser.submit(
        url, url, {"kind": "refund_only", "reason": "unusable", "explanation": "x"}
    ).location
    stranger = app.test_client()
    assert stranger.get(case_url).status_code == 303
    assert stranger.get(f"/orders/{order.order_no}").status_code == 303


def test_english_and_chinese(app, client, clock):
    r = client.get("/", headers={"Accept-Language": "en"})
    assert "Find your order" in r.get_data(as_text=True)
    # no preference at all: Chinese, the default
    html = client.get("/", headers={"Accept-Language": ""}).get_data(as_text=True)
    assert "查询订单" in html and 'lang="zh-CN"' in html
    client.get("/lang/zh_CN")
    html = client.get("/").get_data(as_text=True)  # the choice beats the browser's English
    assert "查询订单" in html and "无需注册" in html
    client.get("/lang/en")
    assert "Find your order" in client.get("/").get_data(as_text=True)


def test_refusal_reads_in_chinese(app, browser, clock):
    order = f.order(clock(), used=True)
    login_order(browser, order)
    browser.client.get("/lang/zh_CN")
    url = f"/orders/{order.order_no}/apply"
    r = browser.submit(url, url, {"kind": "refund_only", "reason": "unusable", "explanation": "x"})
    assert r.status_code == 422
    assert "商品已激活或使用" in r.get_data(as_text=True)
