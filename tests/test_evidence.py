"""Evidence uploads: bad files refused with the form kept; good ones cleaned, hashed, served
only to the parties of the case; the reviewer sees thumbnails and reused pictures."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, Evidence, RefundCase
from tests import factories as f
from tests.images import PNG, image_bytes, pdf_bytes
from tests.test_buyer_flow import login_order

EXPLANATION = "Card 4471 says already used at 10:02"


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def gigapixel_png(side: int = 100_000) -> bytes:
    """A PNG of a few hundred bytes whose header claims side x side pixels (10 gigapixels)."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + side // 8) * 64, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML_AS_JPG = b"<!doctype html><script>fetch('/steal?c='+document.cookie)</script>"
HUNDRED_MB = 100 * 1024 * 1024


class Zeros(io.RawIOBase):
    """A readable stream of ``n`` zero bytes without holding them in memory."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        k = min(len(buf), self.left)
        buf[:k] = b"\x00" * k
        self.left -= k
        return k


BAD_FILES = [
    pytest.param(lambda: HTML_AS_JPG, "photo.jpg", 422, "not an accepted file", id="jpg-name-html"),
    pytest.param(lambda: SVG, "evil.svg", 422, "accepted: JPEG, PNG, WebP, PDF", id="svg-script"),
    pytest.param(gigapixel_png, "huge.png", 422, "at most 16 megapixels", id="gigapixel-png"),
    pytest.param(
        lambda: image_bytes("JPEG", (800, 600))[:2500], "cut.jpg", 422, "damaged", id="truncated"
    ),
    pytest.param(
        lambda: io.BufferedReader(Zeros(HUNDRED_MB)), "big.png", 413, "at most 12 MB", id="100mb"
    ),
    pytest.param(lambda: PNG, "../../etc/x.png", 422, "may not contain folders", id="dotdot-name"),
    pytest.param(
        lambda: pdf_bytes(javascript="app.alert(1)"), "chat.pdf", 422, "scripts", id="pdf-js"
    ),
    pytest.param(lambda: pdf_bytes(attachment=b"MZ"), "chat.pdf", 422, "attached", id="pdf-embed"),
]


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _apply(browser, order, files):
    url = f"/orders/{order.order_no}/apply"
    return browser.submit(
        url,
        url,
        {
            "kind": "refund_only",
            "reason": "unusable",
            "amount": "12.50",
            "explanation": EXPLANATION,
            "files": files,
        },
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize(("make", "name", "status", "message"), BAD_FILES)
def test_bad_files_are_refused_nothing_stored_form_kept(
    app, browser, clock, make, name, status, message
):
    order = f.order(clock())
    login_order(browser, order)
    content = make()
    stream = content if hasattr(content, "read") else io.BytesIO(content)
    r = _apply(browser, order, (stream, name))
    html = r.get_data(as_text=True)
    assert r.status_code == status, html[:400]
    assert message in html
    # the rest of the form is kept: the explanation, the amount and the chosen reason
    assert EXPLANATION in html
    assert 'value="12.50"' in html
    assert re.search(r'checked[^>]*value="unusable"|value="unusable"[^>]*checked', html)
    # and nothing is stored
    assert _count(RefundCase) == 0 and _count(Evidence) == 0 and _count(Event) == 0
    assert not list(Path(app.config["EVIDENCE_DIR"]).glob("*"))


def test_too_large_page_elsewhere_says_what_to_do(app, client):
    r = client.post(
        "/staff/login",
        data={"username": "x", "file": (io.BufferedReader(Zeros(HUNDRED_MB)), "a.png")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 413
    assert "Choose fewer or smaller files" in r.get_data(as_text=True)


def test_accepted_images_are_reencoded_without_metadata(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    exif = {0x010F: "SecretCam", 0x0131: "editor 1.0", 0x013B: "Buyer Name"}
    photo = image_bytes("JPEG", (3200, 2400), exif=exif) + b"PK\x03\x04appended-archive"
    assert Image.open(io.BytesIO(photo)).getexif().get(0x010F) == "SecretCam"
    r = _apply(browser, order, [(io.BytesIO(photo), "photo.jpg"), (io.BytesIO(PNG), "s.png")])
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    rows = db.session.scalars(select(Evidence).order_by(Evidence.id)).all()
    assert [e.content_type for e in rows] == ["image/jpeg", "image/png"]
    folder = Path(app.config["EVIDENCE_DIR"])
    stored = (folder / rows[0].stored_name).read_bytes()
    assert b"SecretCam" not in stored and b"appended-archive" not in stored
    with Image.open(io.BytesIO(stored)) as im:
        assert dict(im.getexif()) == {}
        assert "exif" not in im.info
        assert max(im.size) == 2560  # scaled down from 3200
    import hashlib

    assert rows[0].sha256 == hashlib.sha256(stored).hexdigest()
    assert rows[0].size == len(stored)
    assert re.fullmatch(r"[0-9a-f]{16}", rows[0].phash)
    with Image.open(folder / rows[0].thumb_name) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= 240
    # stored under random names, nothing of the buyer's file name
    assert "photo" not in rows[0].stored_name and rows[0].original_name == "photo.jpg"


def test_pdf_is_accepted_as_download_without_thumbnail(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    r = _apply(browser, order, (io.BytesIO(pdf_bytes()), "chat.pdf"))
    assert r.status_code == 303
    ev = db.session.scalar(select(Evidence))
    assert ev.content_type == "application/pdf" and ev.phash is None and ev.thumb_name is None
    got = browser.get(f"/evidence/{ev.id}")
    assert got.status_code == 200 and got.data.startswith(b"%PDF-")
    assert "attachment" in got.headers["Content-Disposition"]
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert browser.get(f"/evidence/{ev.id}/thumb").status_code == 404


def test_files_per_case_limit(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    files = [(io.BytesIO(image_bytes(seed=i)), f"s{i}.png") for i in range(9)]
    r = _apply(browser, order, files)
    assert r.status_code == 422 and "at most 8 more can be added" in r.get_data(as_text=True)
    assert _count(Evidence) == 0 and not list(Path(app.config["EVIDENCE_DIR"]).glob("*"))


def _staff_login(client, username, role="reviewer", merchant_slug=None):
    f.staff(username, role, merchant_slug)
    from tests.conftest import Browser

    Browser(client).submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )


def test_files_and_thumbnails_only_for_parties(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    assert _apply(browser, order, (io.BytesIO(PNG), "s.png")).status_code == 303
    ev = db.session.scalar(select(Evidence))
    for url in (f"/evidence/{ev.id}", f"/evidence/{ev.id}/thumb"):
        r = browser.get(url)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
    stranger = app.test_client()
    assert stranger.get(f"/evidence/{ev.id}").status_code == 404
    assert stranger.get(f"/evidence/{ev.id}/thumb").status_code == 404
    other_shop = f.merchant()
    shop = app.test_client()
    _staff_login(shop, "shopx", "merchant", other_shop.slug)
    assert shop.get(f"/evidence/{ev.id}/thumb").status_code == 404
    own_shop = app.test_client()
    _staff_login(own_shop, "shopy", "merchant", order.merchant.slug)
    assert own_shop.get(f"/evidence/{ev.id}/thumb").status_code == 200
    reviewer = app.test_client()
    _staff_login(reviewer, "rev1")
    assert reviewer.get(f"/evidence/{ev.id}/thumb").status_code == 200


def test_reviewer_sees_thumbnails_checklist_and_reused_pictures(app, browser, clock):
    first, second, third = f.order(clock()), f.order(clock()), f.order(clock())
    shot = image_bytes("PNG", (640, 480), seed=3)
    resaved = image_bytes("JPEG", (600, 450), seed=3)  # same picture, other size and format
    for order, data, name in [(first, shot, "a.png"), (second, resaved, "b.jpg")]:
        login_order(browser, order)
        assert _apply(browser, order, (io.BytesIO(data), name)).status_code == 303
    login_order(browser, third)
    assert _apply(browser, third, (io.BytesIO(image_bytes(seed=9)), "c.png")).status_code == 303
    case_a, case_b, case_c = db.session.scalars(select(RefundCase).order_by(RefundCase.id)).all()
    reviewer = app.test_client()
    _staff_login(reviewer, "rev2")
    page = reviewer.get(f"/review/cases/{case_b.case_no}").get_data(as_text=True)
    ev_b = case_b.evidence[0]
    assert f'src="/evidence/{ev_b.id}/thumb"' in page
    assert f"The same picture is on other cases: {case_a.case_no}" in page
    assert "Evidence checklist" in page and "Screenshot of the error message" in page
    assert "Order record" in page and "within the promised time" in page
    other = reviewer.get(f"/review/cases/{case_c.case_no}").get_data(as_text=True)
    assert "The same picture is on other cases" not in other
