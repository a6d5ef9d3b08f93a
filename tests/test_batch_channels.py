"""Batch export and statement import are offered by capability, not by channel id.

A third party's channel ``acme_transfer`` declares BatchExporter and StatementImporter and gets
the same screens as the bank plugin; a channel without the capability gets none, and the
routes refuse it.
"""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

import tests.conftest
from portal import hookimpl
from portal.extensions import db
from portal.models import Payout, RefundCase
from portal.plugins.channels import (
    ArrivalWindow,
    BatchExporter,
    BatchFormat,
    ChannelError,
    PayoutChannel,
    RefundResult,
    ResultStatus,
    StatementImporter,
    StatementLine,
)
from portal.plugins.manager import make_plugin_manager
from tests import factories as f
from tests.test_bank_flow import operator  # noqa: F401 - fixture
from tests.test_settlement import approved_case, work

JSON = BatchFormat("acme-json", "json", "application/json")


class AcmeTransfer(PayoutChannel, BatchExporter, StatementImporter):
    """Pays by a JSON batch file; settles by a JSON statement of booked keys."""

    id = "acme_transfer"
    label = "Acme Transfer"

    def arrival(self, payment):
        return ArrivalWindow("working_days", 1, 2)

    def execute_refund(self, request):
        return RefundResult(ResultStatus.PENDING, request.idempotency_key)

    def query_refund(self, request):
        return RefundResult(ResultStatus.PENDING, request.idempotency_key)

    def batch_formats(self):
        return [JSON]

    def export_batch(self, requests, fmt):
        if fmt != JSON.name:
            raise ChannelError(f"unknown format {fmt}")
        rows = [{"key": r.idempotency_key, "fen": r.amount_fen} for r in requests]
        return json.dumps(rows).encode()

    def reconcile_statement(self, data):
        try:
            rows = json.loads(data)
        except ValueError:
            raise ChannelError("not a JSON statement") from None
        return [
            StatementLine(row["key"], row["fen"], ResultStatus.SUCCEEDED, "2026-03-11")
            for row in rows
        ]


class StatementOnly:
    """Duck-typed: no base classes, only the statement method; gets the import form alone.

    It reads the same statement format as AcmeTransfer, so its lines can name Acme's payouts.
    """

    id = "ledger_only"
    label = "Ledger only"

    def arrival(self, payment):
        return ArrivalWindow("instant")

    def execute_refund(self, request):
        return RefundResult(ResultStatus.PENDING, request.idempotency_key)

    def query_refund(self, request):
        return RefundResult(ResultStatus.PENDING, request.idempotency_key)

    def reconcile_statement(self, data):
        return AcmeTransfer().reconcile_statement(data)


class AcmePlugin:
    @hookimpl
    def register_payout_channels(self):
        return [AcmeTransfer(), StatementOnly()]


@pytest.fixture(autouse=True)
def acme_installed(monkeypatch):
    """The portal's plugin manager has the third party's plugin too (as if pip-installed)."""

    def manager():
        pm = make_plugin_manager()
        pm.register(AcmePlugin(), name="acme")
        return pm

    monkeypatch.setattr(tests.conftest, "make_plugin_manager", manager)


def test_a_third_party_batch_channel_gets_the_export_and_statement_screens(
    app,
    browser,
    clock,
    operator,  # noqa: F811
):
    order = f.order(clock(), channel="acme_transfer", amount_fen=2500)
    case = approved_case(clock, operator, order=order)
    work(app)
    payout = db.session.scalar(select(Payout))
    assert payout.channel == "acme_transfer" and payout.state == "pending"

    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert "Acme Transfer" in page and "Download acme-json" in page
    assert 'action="/review/payouts/acme_transfer/export"' in page
    assert 'action="/review/payouts/acme_transfer/statement"' in page
    assert 'action="/review/payouts/ledger_only/statement"' in page
    assert "/review/payouts/ledger_only/export" not in page
    assert "/review/payouts/fakepay/" not in page  # no capability, no screen

    r = browser.submit(
        "/review/payouts/", "/review/payouts/acme_transfer/export", {"format": "acme-json"}
    )
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Content-Disposition"].endswith('.json"')
    assert json.loads(r.data) == [{"key": payout.idempotency_key, "fen": 2500}]
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).batch_ref

    statement = json.dumps([{"key": payout.idempotency_key, "fen": 2500}]).encode()
    r = browser.submit(
        "/review/payouts/",
        "/review/payouts/acme_transfer/statement",
        {"statement": (io.BytesIO(statement), "statement.json")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert "Statement imported: 1 applied, 0 already known, 0 unmatched." in page
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "succeeded"
    assert db.session.get(RefundCase, case.id).state == "refunded"


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("/review/payouts/fakepay/export", {"format": "csv"}, "does not pay by batch file"),
        ("/review/payouts/nopay/export", {"format": "csv"}, "no loaded payout channel nopay"),
        ("/review/payouts/acme_transfer/export", {"format": "pain.001"}, "Unknown batch format"),
        ("/review/payouts/ledger_only/export", {"format": "acme-json"}, "does not pay by batch"),
        (
            "/review/payouts/fakepay/statement",
            {"statement": (io.BytesIO(b"[]"), "s.json")},
            "takes no statements",
        ),
        (
            "/review/payouts/%3Cscript%3E/statement",
            {"statement": (io.BytesIO(b"[]"), "s.json")},
            "no loaded payout channel &lt;script&gt;",
        ),
    ],
)
def test_channels_without_the_capability_are_refused(app, browser, operator, action, data, message):  # noqa: F811
    kw = {"content_type": "multipart/form-data"} if "statement" in data else {}
    r = browser.submit("/review/payouts/", action, data, **kw)
    assert r.status_code == 303
    assert message in browser.get("/review/payouts/").get_data(as_text=True)


def test_one_channels_statement_cannot_settle_another_channels_payout(
    app,
    browser,
    clock,
    operator,  # noqa: F811
):
    order = f.order(clock(), channel="acme_transfer", amount_fen=700)
    approved_case(clock, operator, order=order)
    work(app)
    payout = db.session.scalar(select(Payout))
    statement = json.dumps([{"key": payout.idempotency_key, "fen": 700}]).encode()
    # ledger_only's statement names Acme's payout: left unmatched, never applied
    r = browser.submit(
        "/review/payouts/",
        "/review/payouts/ledger_only/statement",
        {"statement": (io.BytesIO(statement), "s.json")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert "Statement imported: 0 applied, 0 already known, 1 unmatched." in page
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "pending"


def test_a_batch_channel_without_typed_formats_is_broken_at_start_up(tmp_path, redis_url):
    from portal import create_app
    from portal.plugins.startup import PluginLoadError

    class OldStyle(AcmeTransfer):
        id = "old_style"

        def batch_formats(self):
            return ("csv",)  # plain strings: the contract asks for BatchFormat

    class OldPlugin:
        @hookimpl
        def register_payout_channels(self):
            return [OldStyle()]

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(OldPlugin(), name="old")
    cfg = tests.conftest.base_config(tmp_path, f"sqlite:///{tmp_path}/x.sqlite3", redis_url)
    cfg["PLUGIN_MANAGER"] = pm
    with pytest.raises(PluginLoadError, match=r"'old_style' exports batches .*BatchFormat"):
        create_app(cfg)
