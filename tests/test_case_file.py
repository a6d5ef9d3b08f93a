"""The case file: a ZIP a third party can check without the portal (the case as JSON, the
evidence originals with their SHA-256, the case's chain with the canonical text of each link,
the seal covering it); staff, the case's shop and the buyer (after the lookup) download it,
each download recorded first; a file whose evidence is gone says so."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from sqlalchemy import select

from portal.domain import audit_chain
from portal.extensions import db
from portal.models import Event, Evidence, RefundCase
from portal.services.audit import keys, seals
from portal.services.uploads import storage
from tests import factories as f
from tests.conftest import Browser
from tests.test_buyer_flow import login_order
from tests.test_statement_counts import _apply_with_a_file, _staff

PHONE = "13812345678"


@pytest.fixture
def shop(app):
    m = f.merchant("shop")
    db.session.commit()
    f.staff("shop-staff", "merchant", "shop")
    f.staff("rev1", "reviewer")
    f.merchant("other")
    db.session.commit()
    f.staff("other-staff", "merchant", "other")
    return m


@pytest.fixture(autouse=True)
def _fresh_clients(client):
    """Every client of these tests gets a fresh ``g`` per request (see FreshGClient)."""


def _case(app, clock, shop, amount_fen: int = 12345) -> tuple[str, Browser]:
    order = f.order(clock(), m=shop, amount_fen=amount_fen)
    buyer = Browser(app.test_client())
    login_order(buyer, order)
    case_no = _apply_with_a_file(buyer, order.order_no)
    case = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    case.order.buyer_contact = PHONE
    db.session.commit()
    return case_no, buyer


def _download(who: Browser, page: str, action: str) -> zipfile.ZipFile:
    r = who.submit(page, action, {})
    assert r.status_code == 200, r.status_code
    assert r.mimetype == "application/zip"
    assert "attachment" in r.headers["Content-Disposition"]
    assert r.headers["Cache-Control"] == "private, no-store"
    return zipfile.ZipFile(io.BytesIO(r.data))


def _json(zf: zipfile.ZipFile, name: str) -> dict:
    return json.loads(zf.read(name))


def _check_chain(events: list[dict]) -> None:
    """What a third party does with chain.json: every link follows the one before, and every
    link shown in full hashes to its hash."""
    prev = audit_chain.GENESIS
    for seq, event in enumerate(events, start=1):
        assert event["chain_seq"] == seq and event["prev_hash"] == prev
        if not event.get("redacted"):
            text = f"{prev}\n{event['canonical']}".encode()
            assert hashlib.sha256(text).hexdigest() == event["hash"]
        prev = event["hash"]


def _downloads() -> list[Event]:
    return list(
        db.session.scalars(
            select(Event).where(Event.kind == audit_chain.CASE_FILE_DOWNLOADED).order_by(Event.id)
        )
    )


def test_staff_download_a_file_that_checks_without_the_portal(app, clock, shop):
    app.config["AUDIT_SEAL_KEY"] = keys.new_key_text()
    case_no, _buyer = _case(app, clock, shop)
    reviewer = _staff(app, "rev1")
    page = f"/review/cases/{case_no}"
    # claimed: an event only staff see, shown in full to staff
    assert reviewer.submit(page, page + "/claim", {}).status_code == 303
    seals.seal_day(seals.yesterday(clock()))
    zf = _download(reviewer, page, page + "/file")
    names = set(zf.namelist())
    assert {"case.json", "chain.json", "seal.json", "manifest.json"} <= names
    manifest = _json(zf, "manifest.json")
    for name, digest in manifest.items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == digest, name
    document = _json(zf, "case.json")
    assert document["case"]["case_no"] == case_no
    assert document["order"]["buyer_contact"] == "138****5678"
    assert PHONE not in zf.read("case.json").decode()
    assert document["code_reveal_log"] and "code" not in document["code_reveal_log"][0]
    [file_entry] = document["evidence"]
    assert file_entry["missing"] is False and file_entry["sha256_matches"] is True
    assert hashlib.sha256(zf.read(file_entry["file"])).hexdigest() == file_entry["sha256"]
    events = _json(zf, "chain.json")["events"]
    _check_chain(events)
    kinds = [e["kind"] for e in events]
    assert "claimed" in kinds and kinds[-1] == audit_chain.CASE_FILE_DOWNLOADED
    # the seal: signed by the portal's key, naming the chain's head at the place it covers
    sealed = _json(zf, "seal.json")
    assert sealed["sealed"] is True
    assert seals.check_document(sealed, keys.public_key_text(keys.private_key())) == []
    head = next(h for h in sealed["heads"] if h["chain"] == sealed["chain"])
    assert head["seq"] == sealed["covers_seq"]
    assert events[head["seq"] - 1]["hash"] == head["hash"]
    [recorded] = _downloads()
    assert recorded.actor_role == "reviewer" and recorded.data == {"as": "staff"}


def test_the_buyer_gets_their_own_contact_and_the_staff_only_links_alone(app, clock, shop):
    case_no, buyer = _case(app, clock, shop)
    reviewer = _staff(app, "rev1")
    page = f"/review/cases/{case_no}"
    assert reviewer.submit(page, page + "/claim", {}).status_code == 303
    zf = _download(buyer, f"/cases/{case_no}", f"/cases/{case_no}/file")
    assert _json(zf, "case.json")["order"]["buyer_contact"] == PHONE
    events = _json(zf, "chain.json")["events"]
    _check_chain(events)
    claimed = [e for e in events if e.get("redacted")]
    assert claimed and all("actor_label" not in e and "canonical" not in e for e in claimed)
    assert _json(zf, "seal.json") == {"sealed": False, "chain": f"case:{events[0]['case_id']}"}
    assert [e.actor_role for e in _downloads()] == ["buyer"]
    # the buyer's page does not show the download, nor the reviewer taking the case
    html = buyer.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "Case file downloaded" not in html and "taken by a reviewer" not in html


def test_the_shop_downloads_its_own_cases_only(app, clock, shop):
    case_no, _buyer = _case(app, clock, shop)
    merchant = _staff(app, "shop-staff")
    page = f"/merchant/cases/{case_no}"
    zf = _download(merchant, page, page + "/file")
    assert _json(zf, "case.json")["order"]["buyer_contact"] == "138****5678"
    other = _staff(app, "other-staff")
    r = other.submit("/merchant/", page + "/file", {})
    assert r.status_code == 404
    assert [e.actor_role for e in _downloads()] == ["merchant"]


def test_refused_downloads_record_nothing(app, clock, shop):
    case_no, _buyer = _case(app, clock, shop)
    stranger = Browser(app.test_client())
    r = stranger.client.post(f"/cases/{case_no}/file", data={})
    assert r.status_code in (302, 303, 400) and r.mimetype != "application/zip"
    reviewer = _staff(app, "rev1")
    r = reviewer.client.post(f"/review/cases/{case_no}/file", data={})  # no token
    assert r.status_code == 400
    r = reviewer.submit("/review/", "/review/cases/RF-NOPE/file", {})
    assert r.status_code == 404
    assert _downloads() == []


def test_a_file_whose_evidence_is_gone_says_so(app, clock, shop):
    case_no, _buyer = _case(app, clock, shop)
    row = db.session.scalars(select(Evidence)).one()
    storage.current().delete(row.stored_name)
    reviewer = _staff(app, "rev1")
    page = f"/review/cases/{case_no}"
    zf = _download(reviewer, page, page + "/file")
    [entry] = _json(zf, "case.json")["evidence"]
    assert entry["missing"] is True and entry["file"] is None
    assert entry["sha256"] == row.sha256
    assert not [n for n in zf.namelist() if n.startswith("evidence/")]
