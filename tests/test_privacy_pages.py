"""The buyer's own personal data from the case page (download everything held about the order,
ask for erasure), hostile callers first; staff's erasure requests page (deadline, done or
refused with a reason) and a supervisor's legal hold on the staff case page; exports of a case
whose evidence was erased say so instead of failing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from sqlalchemy import func, select

from portal.domain import audit_chain, privacy
from portal.domain.privacy import RequestState
from portal.extensions import db
from portal.models import ErasureRequest, Event, LegalHold, Order, RefundCase
from portal.services.audit.verify import verify
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import Browser
from tests.test_buyer_flow import login_order
from tests.test_statement_counts import _apply_with_a_file, _staff

EXPLANATION = "the code is invalid"  # what _apply_with_a_file writes


@pytest.fixture
def people(app):
    m = f.merchant("shop")
    db.session.commit()
    f.staff("rev1", "reviewer")
    f.staff("sup1", "supervisor")
    return m


@pytest.fixture(autouse=True)
def _fresh_clients(client):
    """Every client of these tests gets a fresh ``g`` per request (see FreshGClient)."""


def _buyer_case(app, clock, shop) -> tuple[RefundCase, Browser]:
    order = f.order(clock(), m=shop)
    buyer = Browser(app.test_client())
    login_order(buyer, order)
    case_no = _apply_with_a_file(buyer, order.order_no)
    return cases.get_case(case_no), buyer


def _count(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))


def _zip(r) -> zipfile.ZipFile:
    assert r.status_code == 200, r.status_code
    assert r.mimetype == "application/zip"
    assert r.headers["Cache-Control"] == "private, no-store"
    return zipfile.ZipFile(io.BytesIO(r.data))


# --- hostile callers first -------------------------------------------------------------------


def test_no_session_gets_nothing(app, clock, people):
    case, _buyer = _buyer_case(app, clock, people)
    stranger = Browser(app.test_client())
    assert stranger.get(f"/cases/{case.case_no}").status_code == 303
    for path in (f"/cases/{case.case_no}/my-data", f"/cases/{case.case_no}/erasure"):
        r = stranger.client.post(path, data={"csrf_token": "forged"})
        assert r.status_code in (303, 400) and r.mimetype != "application/zip"
        assert f.CONTACT not in r.get_data(as_text=True)
    assert _count(privacy.EXPORTED) == 0 and _count(privacy.REQUESTED) == 0


def test_another_buyer_s_case_and_forged_numbers_get_nothing(app, clock, people):
    mine, me = _buyer_case(app, clock, people)
    theirs, _them = _buyer_case(app, clock, people)
    page = f"/cases/{mine.case_no}"
    for target in (theirs.case_no, "NOPE-1", f"{theirs.case_no}%00", str(theirs.id)):
        r = me.submit(page, f"/cases/{target}/my-data", {})
        assert r.status_code in (303, 400, 404), (target, r.status_code)
        assert r.mimetype != "application/zip"
        r = me.submit(page, f"/cases/{target}/erasure", {})
        assert r.status_code in (303, 400, 404), (target, r.status_code)
    assert _count(privacy.EXPORTED) == 0
    assert db.session.scalar(select(func.count()).select_from(ErasureRequest)) == 0
    # a GET is not a download, and a post without the page's token is refused
    assert me.get(f"/cases/{mine.case_no}/my-data").status_code == 405
    assert me.client.post(f"/cases/{mine.case_no}/my-data").status_code == 400
    assert _count(privacy.EXPORTED) == 0


# --- the buyer's export ----------------------------------------------------------------------


def test_the_buyer_downloads_everything_held_about_their_order(app, clock, people):
    case, buyer = _buyer_case(app, clock, people)
    reviewer = _staff(app, "rev1")
    staff_page = f"/review/cases/{case.case_no}"
    assert reviewer.submit(staff_page, staff_page + "/claim", {}).status_code == 303
    page = f"/cases/{case.case_no}"
    assert "my-data" in buyer.get(page).get_data(as_text=True)
    zf = _zip(buyer.submit(page, page + "/my-data", {}))
    [part] = json.loads(zf.read("my-data.json"))["orders"]
    assert part["order"]["buyer_contact"] == f.CONTACT
    assert part["order"]["order_no"] == case.order.order_no
    [mine] = part["cases"]
    assert mine["explanation"] == EXPLANATION
    assert any(e["words"] == EXPLANATION for e in mine["timeline"])
    kinds = {e["kind"] for e in mine["timeline"]}
    assert "claimed" not in kinds and privacy.EXPORTED not in kinds  # staff-only events
    assert "rev1" not in zf.read("my-data.json").decode()  # no staff names
    [entry] = mine["evidence"]
    assert entry["erased"] is False and entry["sha256_matches"] is True
    assert hashlib.sha256(zf.read(entry["file"])).hexdigest() == entry["sha256"]
    manifest = json.loads(zf.read("manifest.json"))
    assert hashlib.sha256(zf.read("my-data.json")).hexdigest() == manifest["my-data.json"]
    [recorded] = db.session.scalars(select(Event).where(Event.kind == privacy.EXPORTED)).all()
    assert recorded.case_id == case.id and recorded.actor_role == "buyer"
    # the staff's timeline shows the download; the buyer's does not
    assert "downloaded their data" in reviewer.get(staff_page).get_data(as_text=True)
    assert verify().ok


def test_the_export_holds_every_order_this_browser_looked_up_and_no_other(app, clock, people):
    case, buyer = _buyer_case(app, clock, people)
    second = f.order(clock(), m=people)
    login_order(buyer, second)  # the same browser proves a second order is theirs
    stranger_s = f.order(clock(), m=people)  # never looked up here
    stranger_case, _them = _buyer_case(app, clock, people)  # another browser's, with a case
    page = f"/cases/{case.case_no}"
    zf = _zip(buyer.submit(page, page + "/my-data", {}))
    text = zf.read("my-data.json").decode()
    parts = json.loads(text)["orders"]
    # the case's order first, then the other one, each once
    assert [p["order"]["order_no"] for p in parts] == [case.order.order_no, second.order_no]
    assert parts[1]["cases"] == [] and parts[1]["order"]["buyer_contact"] == f.CONTACT
    for other in (stranger_s.order_no, stranger_case.order.order_no, stranger_case.case_no):
        assert other not in text
    # the download is in the trail of both orders it holds, naming both
    recorded = db.session.scalars(
        select(Event).where(Event.kind == privacy.EXPORTED).order_by(Event.id)
    ).all()
    assert {e.order_id for e in recorded} == {case.order_id, second.id}
    assert all(e.data["order_ids"] == [case.order_id, second.id] for e in recorded)
    assert verify().ok


def test_an_expired_lookup_drops_the_order_from_the_export(app, clock, people):
    case, buyer = _buyer_case(app, clock, people)
    older = f.order(clock(), m=people)
    login_order(buyer, older)
    minutes = app.config["BUYER_ACCESS_MINUTES"]
    clock.advance(seconds=minutes * 60 - 30)
    login_order(buyer, case.order)  # the case's order looked up again, the other left to lapse
    clock.advance(seconds=60)
    page = f"/cases/{case.case_no}"
    zf = _zip(buyer.submit(page, page + "/my-data", {}))
    parts = json.loads(zf.read("my-data.json"))["orders"]
    assert [p["order"]["order_no"] for p in parts] == [case.order.order_no]
    assert older.order_no not in zf.read("my-data.json").decode()


# --- erasure requests ------------------------------------------------------------------------


def test_a_request_is_listed_with_its_deadline_and_refused_with_a_reason(app, clock, people):
    case, buyer = _buyer_case(app, clock, people)
    page = f"/cases/{case.case_no}"
    assert buyer.submit(page, page + "/erasure", {}).status_code == 303
    assert buyer.submit(page, page + "/erasure", {}).status_code == 303  # asked already
    [request] = db.session.scalars(select(ErasureRequest)).all()
    assert request.state == RequestState.OPEN and request.due_at > clock()
    assert "already asked" in buyer.get(page).get_data(as_text=True)
    assert _count(privacy.REQUESTED) == 1
    reviewer = _staff(app, "rev1")
    listing = reviewer.get("/review/privacy").get_data(as_text=True)
    assert case.case_no in listing and "due" in listing
    assert "still open" in listing  # the case is open: a hold
    # done while the case is open: refused by the rules, nothing erased
    r = reviewer.submit("/review/privacy", f"/review/privacy/{request.id}/done", {})
    assert r.status_code == 409
    assert db.session.get_one(Order, case.order_id).erased_at is None
    r = reviewer.submit("/review/privacy", f"/review/privacy/{request.id}/refuse", {})
    assert r.status_code == 422  # no reason
    r = reviewer.submit(
        "/review/privacy",
        f"/review/privacy/{request.id}/refuse",
        {"refuse-reason": "the case is still open"},
    )
    assert r.status_code == 303
    db.session.expire_all()
    request = db.session.get_one(ErasureRequest, request.id)
    assert request.state == RequestState.REFUSED and request.answered_by
    assert "the case is still open" in buyer.get(page).get_data(as_text=True)
    r = reviewer.submit("/review/privacy", f"/review/privacy/{request.id}/done", {})
    assert r.status_code == 409  # answered once
    answered = db.session.scalars(select(Event).where(Event.kind == privacy.REQUEST_ANSWERED)).one()
    assert (answered.to_state, answered.reason) == ("refused", "the case is still open")


def test_a_request_done_erases_and_the_exports_say_so(app, clock, people):
    case, buyer = _buyer_case(app, clock, people)
    cases.withdraw(case)
    page = f"/cases/{case.case_no}"
    assert buyer.submit(page, page + "/erasure", {}).status_code == 303
    [request] = db.session.scalars(select(ErasureRequest)).all()
    reviewer = _staff(app, "rev1")
    r = reviewer.submit("/review/privacy", f"/review/privacy/{request.id}/done", {})
    assert r.status_code == 303
    db.session.expire_all()
    order = db.session.get_one(Order, case.order_id)
    assert order.erased_at is not None and order.buyer_contact == ""
    assert db.session.get_one(ErasureRequest, request.id).state == RequestState.DONE
    receipt = db.session.scalars(select(Event).where(Event.kind == privacy.ERASED)).one()
    assert receipt.data["cause"] == "request" and receipt.data["request_id"] == request.id
    assert verify().ok, verify().problems
    # the buyer's session still open: the export says the file was erased, and does not fail
    zf = _zip(buyer.submit(page, page + "/my-data", {}))
    [part] = json.loads(zf.read("my-data.json"))["orders"]
    [entry] = part["cases"][0]["evidence"]
    assert entry["erased"] is True and entry["file"] is None and entry["sha256"]
    assert part["order"]["buyer_contact"] == ""
    assert EXPLANATION not in zf.read("my-data.json").decode()
    # the staff's case file too; its chain still checks without the portal
    staff_page = f"/review/cases/{case.case_no}"
    assert "File erased" in reviewer.get(staff_page).get_data(as_text=True)
    zf = _zip(reviewer.submit(staff_page, staff_page + "/file", {}))
    [entry] = json.loads(zf.read("case.json"))["evidence"]
    assert entry["erased"] is True and entry["missing"] is True
    events = json.loads(zf.read("chain.json"))["events"]
    prev, blanked = audit_chain.GENESIS, 0
    for event in events:
        assert event["prev_hash"] == prev
        digest = hashlib.sha256(f"{prev}\n{event['canonical']}".encode()).hexdigest()
        if "erased" in event:
            blanked += 1
            receipt_entry = events[event["erased"]["by_receipt_seq"] - 1]
            named = {e["seq"]: e for e in receipt_entry["data"]["erased_events"]}
            assert named[event["chain_seq"]]["hash"] == event["hash"]
            assert digest == event["erased"]["hash_as_blanked"]
        else:
            assert digest == event["hash"]
        prev = event["hash"]
    assert blanked >= 1


# --- legal holds on the staff case page ------------------------------------------------------


def test_a_supervisor_sets_and_lifts_a_hold_from_the_case_page(app, clock, people):
    case, _buyer = _buyer_case(app, clock, people)
    page = f"/review/cases/{case.case_no}"
    reviewer = _staff(app, "rev1")
    assert "Set a legal hold" not in reviewer.get(page).get_data(as_text=True)
    r = reviewer.submit(page, page + "/hold", {"hold-reason": "court"})
    assert r.status_code == 403
    supervisor = _staff(app, "sup1")
    assert "Set a legal hold" in supervisor.get(page).get_data(as_text=True)
    r = supervisor.submit(page, page + "/hold", {"hold-reason": ""})
    assert r.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(LegalHold)) == 0
    r = supervisor.submit(page, page + "/hold", {"hold-reason": "police request 7"})
    assert r.status_code == 303
    shown = reviewer.get(page).get_data(as_text=True)
    assert "police request 7" in shown and "On legal hold" in shown
    r = supervisor.submit(page, page + "/hold/lift", {"hold-reason": "closed by the police"})
    assert r.status_code == 303
    hold = db.session.scalars(select(LegalHold)).one()
    assert hold.lifted_at is not None and hold.lift_reason == "closed by the police"
    kinds = [e.kind for e in db.session.scalars(select(Event).where(Event.case_id == case.id))]
    assert privacy.HOLD_SET in kinds and privacy.HOLD_LIFTED in kinds


def test_the_personal_data_parts_of_each_page_are_chinese(app, clock, people):
    from tests.test_zh_pages import english_in

    zh = {"Accept-Language": "zh-CN"}
    case, buyer = _buyer_case(app, clock, people)
    page = f"/cases/{case.case_no}"
    assert buyer.submit(page, page + "/erasure", {}).status_code == 303
    supervisor = _staff(app, "sup1")
    staff_page = f"/review/cases/{case.case_no}"
    r = supervisor.submit(staff_page, staff_page + "/hold", {"hold-reason": "police request 7"})
    assert r.status_code == 303
    buyer.get(page), supervisor.get(staff_page)  # the flashes, said in English when flashed
    seen = {
        page: buyer.client.get(page, headers=zh),
        staff_page: supervisor.client.get(staff_page, headers=zh),
        "/review/privacy": supervisor.client.get("/review/privacy", headers=zh),
    }
    for url, r in seen.items():
        html = r.get_data(as_text=True)
        assert r.status_code == 200, url
        assert english_in(html) == [], (url, english_in(html))
    assert "法律保留" in seen[staff_page].get_data(as_text=True)
    assert "主管设置的法律保留" in seen["/review/privacy"].get_data(as_text=True)
    assert "申请删除" in seen[page].get_data(as_text=True)


def test_the_request_status_is_read_from_the_case_s_own_events():
    from datetime import UTC, datetime
    from types import SimpleNamespace as E

    at = datetime(2026, 3, 10, tzinfo=UTC)
    asked = E(kind=privacy.REQUESTED, to_state="", reason="", created_at=at, data={})
    asked.data = {"due_at": "2026-03-31T02:00:00+00:00"}
    refused = E(
        kind=privacy.REQUEST_ANSWERED,
        to_state="refused",
        reason="open case",
        created_at=at,
        data={},
    )
    other = E(kind="message", to_state="", reason="hi", created_at=at, data={})
    assert privacy.request_status([other]) is None
    waiting = privacy.request_status([other, asked])
    assert waiting is not None and waiting.waiting and not waiting.refused
    assert waiting.due_at == datetime(2026, 3, 31, 2, tzinfo=UTC)
    answered = privacy.request_status([asked, refused])
    assert answered is not None and answered.refused and answered.refusal == "open case"
    again = privacy.request_status([asked, refused, asked])
    assert again is not None and again.waiting and again.refusal == ""
