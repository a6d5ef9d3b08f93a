"""The case file PDF a person reads: the order, the listing at purchase, the reveal log, the
timeline with who did what and why, the evidence pictures, the decision, the payouts with
their gateway references, in the reader's language (Chinese by default, read back from the
file with pypdf); only the case's parties and staff download it, each download recorded; gone
or altered evidence is said so; a long timeline runs over pages; the ZIP carries it too."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib

from pypdf import PdfReader
from sqlalchemy import select

from portal.domain import audit_chain
from portal.extensions import db
from portal.models import Event, Evidence, Payout, RefundCase
from portal.services.actors import BUYER
from portal.services.refunds.transitions import record
from portal.services.uploads import evidence, storage
from tests import factories as f
from tests import test_case_file
from tests.conftest import Browser
from tests.images import PNG
from tests.test_buyer_flow import login_order
from tests.test_case_file import PHONE, _case
from tests.test_statement_counts import _negotiated_and_paid, _staff

# the case file's fixtures: a shop with its staff, another shop, fresh clients
shop = test_case_file.shop
_fresh_clients = test_case_file._fresh_clients


def _pdf(who: Browser, page: str, action: str, lang: str = "zh_CN") -> PdfReader:
    """The PDF ``who`` downloads, reading in ``lang`` (as chosen on the site)."""
    who.client.get(f"/lang/{lang}")
    r = who.submit(page, action, {})
    assert r.status_code == 200, r.status_code
    assert r.mimetype == "application/pdf"
    disposition = r.headers["Content-Disposition"]
    assert "attachment" in disposition and ".pdf" in disposition
    assert r.headers["Cache-Control"] == "private, no-store"
    assert r.data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(r.data))


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def _downloads() -> list[Event]:
    return list(
        db.session.scalars(
            select(Event).where(Event.kind == audit_chain.CASE_FILE_DOWNLOADED).order_by(Event.id)
        )
    )


def test_staff_read_the_whole_case_in_chinese(app, clock, shop):
    case_no, buyer = _case(app, clock, shop, amount_fen=10000)
    reviewer = _staff(app, "rev1")
    page = f"/review/cases/{case_no}"
    assert reviewer.submit(page, page + "/claim", {}).status_code == 303
    merchant = _staff(app, "shop-staff")
    _negotiated_and_paid(app, buyer, merchant, case_no)
    payout = db.session.scalars(select(Payout)).one()
    assert payout.gateway_reference
    reader = _pdf(reviewer, page, page + "/file.pdf")
    text = _text(reader)
    # Chinese labels from the catalogue (the default language), the case number
    for label in ["售后单档案", "售后单号：", "交易快照", "卡密查看记录", "处理进度", "凭证"]:
        assert label in text, label
    assert case_no in text
    # amounts in yuan from integer fen: the order, the two offers, the refund paid
    for amount in ["¥100.00", "¥30.00", "¥70.00"]:
        assert amount in text, amount
    # the timeline: who did what, and why in their own words
    for said in [
        "买家：已提交申请",
        "留言",
        "worked",  # the shop's refusal, as written
        "It never worked",  # the buyer's message
        "goodwill",
        "70 please",
    ]:
        assert said in text, said
    assert "审核员已领取售后单" in text  # staff see who took the case
    # the payout with its gateway reference; the order's payment reference
    assert payout.gateway_reference in text
    # the contact masked for staff, the reveal log without the codes themselves
    assert "138****5678" in text and PHONE not in text
    case = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    assert all(code.code not in text for code in case.order.codes)
    [recorded] = _downloads()
    assert recorded.actor_role == "reviewer"
    assert recorded.data == {"as": "staff", "format": "pdf"}


def test_the_reader_chooses_english(app, clock, shop):
    case_no, buyer = _case(app, clock, shop)
    text = _text(_pdf(buyer, f"/cases/{case_no}", f"/cases/{case_no}/file.pdf", lang="en"))
    assert f"Case file {case_no}" in text
    assert "Timeline" in text and "Listing snapshot at purchase" in text
    assert "售后单档案" not in text and "¥123.45" in text


def test_the_buyer_reads_their_own_contact_and_not_the_staff_only_events(app, clock, shop):
    case_no, buyer = _case(app, clock, shop)
    reviewer = _staff(app, "rev1")
    page = f"/review/cases/{case_no}"
    assert reviewer.submit(page, page + "/claim", {}).status_code == 303
    text = _text(_pdf(buyer, f"/cases/{case_no}", f"/cases/{case_no}/file.pdf"))
    assert PHONE in text and "¥123.45" in text and "the code is invalid" in text
    assert "审核员已领取售后单" not in text  # the claim is a staff-only event
    staff_text = _text(_pdf(reviewer, page, page + "/file.pdf"))
    assert "审核员已领取售后单" in staff_text
    assert [e.data for e in _downloads()] == [
        {"as": "buyer", "format": "pdf"},
        {"as": "staff", "format": "pdf"},
    ]


def test_only_the_cases_parties_download_it(app, clock, shop):
    case_no, _buyer = _case(app, clock, shop)
    url = f"/cases/{case_no}/file.pdf"
    # no session at all
    r = Browser(app.test_client()).client.post(url, data={})
    assert r.status_code in (302, 303, 400) and r.mimetype != "application/pdf"
    # another buyer, logged in to their own order, with a valid token
    other_order = f.order(clock(), m=shop)
    db.session.commit()
    other = Browser(app.test_client())
    assert login_order(other, other_order).status_code == 303
    r = other.submit(f"/orders/{other_order.order_no}", url, {})
    assert r.status_code in (303, 403, 404) and r.mimetype != "application/pdf"
    # forged case numbers, for the buyer and for staff
    for forged in ["RF-NOPE", "../" + case_no, case_no + "%00", "1 OR 1=1"]:
        r = other.submit(f"/orders/{other_order.order_no}", f"/cases/{forged}/file.pdf", {})
        assert r.status_code in (303, 400, 403, 404), forged
        assert r.mimetype != "application/pdf"
    reviewer = _staff(app, "rev1")
    assert reviewer.submit("/review/", "/review/cases/RF-NOPE/file.pdf", {}).status_code == 404
    # another shop's staff, and a shop's staff at the platform's address
    other_shop = _staff(app, "other-staff")
    r = other_shop.submit("/merchant/", f"/merchant/cases/{case_no}/file.pdf", {})
    assert r.status_code == 404
    r = other_shop.submit("/merchant/", f"/review/cases/{case_no}/file.pdf", {})
    assert r.status_code in (302, 303, 403) and r.mimetype != "application/pdf"
    # staff without the form's token
    r = reviewer.client.post(f"/review/cases/{case_no}/file.pdf", data={})
    assert r.status_code == 400
    assert _downloads() == []
    # the shop's own staff may
    merchant = _staff(app, "shop-staff")
    page = f"/merchant/cases/{case_no}"
    text = _text(_pdf(merchant, page, page + "/file.pdf"))
    assert "138****5678" in text and PHONE not in text
    assert [e.data for e in _downloads()] == [{"as": "merchant", "format": "pdf"}]


def test_the_case_pages_offer_the_pdf(app, clock, shop):
    case_no, buyer = _case(app, clock, shop)
    buyer.client.get("/lang/zh_CN")
    html = buyer.get(f"/cases/{case_no}").get_data(as_text=True)
    assert f'action="/cases/{case_no}/file.pdf"' in html and "下载售后单档案（PDF）" in html
    reviewer = _staff(app, "rev1")
    html = reviewer.get(f"/review/cases/{case_no}").get_data(as_text=True)
    assert f'action="/review/cases/{case_no}/file.pdf"' in html


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in its header and has no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_gone_erased_and_altered_evidence_is_said_so(app, clock, shop):
    case_no, _buyer = _case(app, clock, shop)
    case = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    # more pictures: one whose original is gone, one erased with its preview, one overwritten
    # with bytes that are no picture, one with a header claiming a picture far over the limit
    names = ("two", "three", "four", "five")
    stored = [evidence.store(io.BytesIO(PNG), f"{n}.png") for n in names]
    evidence.attach(case, stored, "buyer")
    db.session.commit()
    rows = list(db.session.scalars(select(Evidence).order_by(Evidence.id)))
    assert len(rows) == 5
    _kept, gone, erased, altered, bomb = rows
    store = storage.current()
    store.delete(gone.stored_name)
    store.delete(erased.stored_name)
    assert erased.thumb_name is not None
    store.delete(erased.thumb_name)
    store.put(altered.stored_name, b"not the picture that was uploaded", altered.content_type)
    store.put(bomb.stored_name, _png_header(60_000, 60_000), bomb.content_type)
    reviewer = _staff(app, "rev1")
    page = f"/review/cases/{case_no}"
    reader = _pdf(reviewer, page, page + "/file.pdf")
    text = _text(reader)
    flat = text.replace("\n", "")
    assert flat.count("原文件已不在存储中，下面显示的是它的缩略图。") == 1
    assert flat.count("该文件已不在存储中（缺失，或在保留期满后已删除）") == 1
    assert flat.count("存储的文件与上传时记录的 SHA-256 不一致。") == 2
    assert flat.count("无法读取存储的图片，因此未显示。") == 2
    for row in rows:
        assert row.sha256 in flat
    # the kept picture and the preview are drawn, nothing else
    images = [img for p in reader.pages for img in p.images]
    assert len(images) == 2


def test_text_people_wrote_is_printed_as_written(app, clock, shop):
    case_no, buyer = _case(app, clock, shop)
    case = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    # (an older row may hold control characters; PostgreSQL refuses U+0000 itself)
    case.explanation = "<b>bold?</b> & <font size=99>x</font>\x07\x1b\x85 😀 卡密无效"
    case.order.snapshot.title = "<para>" * 3 + "九九折点卡"
    db.session.commit()
    text = _text(_pdf(buyer, f"/cases/{case_no}", f"/cases/{case_no}/file.pdf"))
    assert "<b>bold?</b> & <font size=99>x</font>" in text
    assert "卡密无效" in text and "<para><para><para>九九折点卡" in text
    assert not any(ch in text for ch in "\x07\x1b\x85")


def test_a_long_timeline_runs_over_pages(app, clock, shop):
    case_no, buyer = _case(app, clock, shop)
    case = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    for n in range(300):
        record("message", BUYER, case=case, reason=f"第 {n:03d} 条留言 message {n:03d}")
    db.session.commit()
    reader = _pdf(buyer, f"/cases/{case_no}", f"/cases/{case_no}/file.pdf")
    assert len(reader.pages) > 5
    pages = [p.extract_text() for p in reader.pages]
    assert "第 000 条留言" in "".join(pages) and "第 299 条留言" in "".join(pages)
    first = next(i for i, t in enumerate(pages) if "message 000" in t)
    last = next(i for i, t in enumerate(pages) if "message 299" in t)
    assert last > first
    # every page carries the case number and its page number
    for number, page in enumerate(pages, start=1):
        assert case_no in page and f"第 {number} 页" in page


def test_the_zip_carries_the_pdf(app, clock, shop):
    case_no, buyer = _case(app, clock, shop)
    buyer.client.get("/lang/zh_CN")
    r = buyer.submit(f"/cases/{case_no}", f"/cases/{case_no}/file", {})
    assert r.status_code == 200 and r.mimetype == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.data))
    data = zf.read("case.pdf")
    assert json.loads(zf.read("manifest.json"))["case.pdf"] == hashlib.sha256(data).hexdigest()
    text = _text(PdfReader(io.BytesIO(data)))
    assert case_no in text and PHONE in text and "处理进度" in text
    assert [e.data for e in _downloads()] == [{"as": "buyer"}]
