"""CSV import: a dry run lists every bad row by line number and imports nothing; a clean file
goes in whole (CLI and the merchant's upload page, whose job reports progress)."""

from __future__ import annotations

import io
import os

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import CardCode, Order
from portal.services.integration import csv_import, ingest, orders
from tests import factories as f
from tests.test_settlement import work

HEADER = (
    "order_no,buyer_contact,query_password,sku,title,price,amount,channel,"
    "gateway_trade_id,merchant_trade_no,paid_at,codes\n"
)


def row(n: int, **over: str) -> str:
    values = {
        "order_no": f"CSV{n:05d}",
        "buyer_contact": "13800000000",
        "query_password": "pass1234",
        "sku": "QQ-10",
        "title": "QQ coins 10",
        "price": "9.50",
        "amount": "9.50",
        "channel": "fakepay",
        "gateway_trade_id": f"G{n}",
        "merchant_trade_no": f"M{n}",
        "paid_at": "2026-03-09T10:00:00+08:00",
        "codes": f"CODE{n}A|CODE{n}B",
    }
    values.update(over)
    return ",".join(values.values()) + "\n"


def orders_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def test_dry_run_reports_every_bad_row_by_line_and_imports_nothing(app):
    m = f.merchant()
    db.session.commit()
    text = (
        HEADER
        + row(1)
        + row(2, amount="9.5.0")
        + row(3, paid_at="yesterday")
        + row(1)  # same order number as line 2
        + row(5, order_no="bad no", channel="Fake Pay")
    )
    parsed = csv_import.parse(m.id, text)
    got = [(e.line, e.column) for e in parsed.errors]
    assert got == [(3, "amount"), (4, "paid_at"), (5, "order_no"), (6, "order_no"), (6, "channel")]
    assert "line 2" in parsed.errors[2].message
    assert orders_count() == 0
    refused = None
    try:
        csv_import.import_orders(m.id, text, ingest.shop_actor(m.id))
    except csv_import.ImportRefused as exc:
        refused = exc
    assert refused is not None and len(refused.errors) == 5 and orders_count() == 0


def test_missing_and_unknown_columns(app):
    m = f.merchant()
    db.session.commit()
    parsed = csv_import.parse(m.id, "order_no,colour\nA,red\n")
    assert [(e.line, e.message) for e in parsed.errors] == [
        (1, "missing column(s)"),
        (1, "unknown column(s)"),
    ]
    assert "buyer_contact" in parsed.errors[0].column and parsed.errors[1].column == "colour"


def test_an_order_number_already_in_the_portal_is_an_error(app, clock):
    existing = f.order(clock())
    text = HEADER + row(1) + row(2, order_no=existing.order_no)
    parsed = csv_import.parse(existing.merchant_id, text)
    assert [(e.line, e.column) for e in parsed.errors] == [(3, "order_no")]


def test_clean_file_imports_every_row_with_codes(app):
    m = f.merchant()
    db.session.commit()
    text = HEADER + "".join(row(n) for n in range(1, 451))
    seen = []
    count = csv_import.import_orders(
        m.id, text, ingest.shop_actor(m.id), lambda d, t: seen.append((d, t))
    )
    assert count == 450 and orders_count() == 450
    assert seen == [(200, 450), (400, 450), (450, 450)]
    order = orders.lookup("CSV00007", "13800000000", "pass1234")
    assert order.amount_fen == 950 and order.payment.gateway_trade_id == "G7"
    assert [c.code for c in order.codes] == ["CODE7A", "CODE7B"]
    assert order.delivered_at == order.paid_at
    assert db.session.scalar(select(func.count()).select_from(CardCode)) == 900


def test_cli_dry_run_then_import(app, tmp_path):
    from portal.cli import import_orders

    m = f.merchant("climerchant")
    db.session.commit()
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + row(1) + row(2, amount="lots"), encoding="utf-8")
    runner = app.test_cli_runner()
    r = runner.invoke(import_orders, [str(bad), "--merchant", m.slug, "--dry-run"])
    assert r.exit_code == 1 and "line 3, amount" in r.output and orders_count() == 0
    good = tmp_path / "good.csv"
    good.write_text(HEADER + row(1) + row(2), encoding="utf-8")
    r = runner.invoke(import_orders, [str(good), "--merchant", m.slug, "--dry-run"])
    assert r.exit_code == 0 and "2 rows checked" in r.output and orders_count() == 0
    r = runner.invoke(import_orders, [str(good), "--merchant", m.slug])
    assert r.exit_code == 0 and "2 orders imported" in r.output and orders_count() == 2
    r = runner.invoke(import_orders, [str(good), "--merchant", m.slug])  # again: all taken
    assert r.exit_code == 1 and "already exists" in r.output and orders_count() == 2


def login_merchant(browser, slug: str) -> None:
    f.staff(f"staff-{slug}", "merchant", slug)
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": f"staff-{slug}", "password": "password-123"}
    )
    assert r.status_code in (302, 303)


def upload(browser, text: str, dry_run: bool):
    data = {"file": (io.BytesIO(text.encode()), "orders.csv")}
    if dry_run:
        data["dry_run"] = "y"
    return browser.submit("/merchant/import", "/merchant/import", data)


def test_upload_page_dry_run_then_import_with_progress(app, browser, tmp_path):
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    m = f.merchant("uploader")
    db.session.commit()
    login_merchant(browser, m.slug)
    r = upload(browser, HEADER + row(1) + row(2, paid_at="soon"), dry_run=False)
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "paid_at" in page and ">3<" in page and orders_count() == 0
    r = upload(browser, HEADER + row(1) + row(2), dry_run=True)
    assert r.status_code == 200 and "2 rows checked" in r.get_data(as_text=True)
    assert orders_count() == 0
    r = upload(browser, HEADER + row(1) + row(2), dry_run=False)
    assert r.status_code == 303
    status_url = r.headers["Location"]
    running = browser.get(status_url).get_data(as_text=True)
    assert "<progress" in running and 'hx-trigger="every 1s"' in running
    work(app)
    assert orders_count() == 2
    done = browser.get(status_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'value="2" max="2"' in done and "2 orders imported" in done
    assert "hx-trigger" not in done and "<html" not in done
    assert os.listdir(tmp_path / "imports") == []  # the job removed the uploaded file


def test_another_merchant_cannot_see_an_import(app, browser, tmp_path):
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    m = f.merchant("owner")
    db.session.commit()
    login_merchant(browser, m.slug)
    r = upload(browser, HEADER + row(1), dry_run=False)
    status_url = r.headers["Location"]
    from tests.conftest import Browser

    other = f.merchant("nosy")
    db.session.commit()
    b2 = Browser(app.test_client())
    login_merchant(b2, other.slug)
    assert b2.get(status_url).status_code == 404
