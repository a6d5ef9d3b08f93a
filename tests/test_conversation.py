"""Before a decision the buyer can write to the shop and the platform and add files at any
time, not only when asked; after it, both are refused with a message and nothing is stored."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Evidence
from portal.services.actors import Actor
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import Browser, csrf_from
from tests.images import PNG
from tests.test_buyer_flow import count, login_order
from tests.test_dispute_pages import a_case, shop, staff_login  # noqa: F401 - the fixture


def post_files(buyer: Browser, case, name: str = "more.png"):
    url = f"/cases/{case.case_no}"
    token = csrf_from(buyer.get("/").get_data(as_text=True))  # any page's token: one per session
    return buyer.client.post(
        url + "/files",
        data={"csrf_token": token, "add-files": (io.BytesIO(PNG), name)},
        content_type="multipart/form-data",
    )


def test_the_buyer_writes_and_adds_files_before_any_request(app, client, clock, shop):  # noqa: F811
    case = a_case(clock, shop)
    buyer = Browser(client)
    login_order(buyer, case.order)
    url = f"/cases/{case.case_no}"
    # the buyer's message box is "write to the shop" (the reviewer reads the thread too)
    assert 'name="shop-text"' in buyer.get(url).get_data(as_text=True)
    r = buyer.submit(url, url + "/contact-shop", {"shop-text": "请尽快处理，谢谢"})
    assert r.status_code == 303
    r = post_files(buyer, case)
    assert r.status_code == 303, r.get_data(as_text=True)
    db.session.expire_all()
    assert count(Evidence) == 1
    kinds = [e.kind for e in db.session.scalars(select(Event).where(Event.case_id == case.id))]
    assert "message" in kinds and "evidence_added" in kinds
    page = buyer.get(url).get_data(as_text=True)
    assert "请尽快处理，谢谢" in page and "more.png" in page
    # the shop reads it on its own case page
    shop_browser = Browser(app.test_client())
    staff_login(shop_browser, "shop-staff")
    shop_page = shop_browser.get(f"/merchant/cases/{case.case_no}").get_data(as_text=True)
    assert "请尽快处理，谢谢" in shop_page and "more.png" in shop_page


def test_after_the_decision_both_are_refused_and_nothing_is_kept(app, client, clock, shop):  # noqa: F811
    case = a_case(clock, shop)
    reviewer = f.staff("decider")
    cases.reject(case, Actor(Role.REVIEWER, reviewer.id, "R"), "No proof")
    buyer = Browser(client)
    login_order(buyer, case.order)
    url = f"/cases/{case.case_no}"
    page = buyer.get(url).get_data(as_text=True)
    assert 'name="shop-text"' not in page and 'name="add-files"' not in page
    token = csrf_from(buyer.get("/").get_data(as_text=True))
    r = client.post(url + "/message", data={"csrf_token": token, "msg-text": "hello?"})
    assert r.status_code == 422 and "until the case is decided" in r.get_data(as_text=True)
    r = post_files(buyer, case)
    assert r.status_code == 422 and "until the case is decided" in r.get_data(as_text=True)
    db.session.expire_all()
    assert count(Evidence) == 0
    assert [p for p in Path(app.config["EVIDENCE_DIR"]).rglob("*") if p.is_file()] == []
