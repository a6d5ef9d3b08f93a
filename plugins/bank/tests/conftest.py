"""Shared fixtures for the bank channel tests: a channel, refund requests, XSD lookup."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import pytest
from refund_portal_bank.batch import CHINA_STANDARD_TIME
from refund_portal_bank.channel import BankChannel
from refund_portal_bank.plugin import debtor_from_settings

from portal.plugins.channels import PaymentRef, RefundRequest

NOW = datetime(2025, 3, 3, 10, 30, 0, tzinfo=CHINA_STANDARD_TIME)

CARD = {
    "account_name": "张三",
    "account_no": "6222021234567890123",
    "bank_name": "中国工商银行",
}


def make_request(
    key: str = "RP0001",
    amount_fen: int = 1000,
    *,
    extra: dict[str, str] | None = None,
    currency: str = "CNY",
    reason: str = "",
    channel: str = "bank",
    trade_no: str = "ORD-1",
) -> RefundRequest:
    payment = PaymentRef(
        channel=channel,
        gateway_trade_id="T-" + trade_no,
        merchant_trade_no=trade_no,
        captured_fen=10**10,
        currency=currency,
        extra=dict(CARD if extra is None else extra),
    )
    return RefundRequest(
        idempotency_key=key,
        payment=payment,
        amount_fen=amount_fen,
        currency=currency,
        reason=reason,
    )


@pytest.fixture
def channel() -> BankChannel:
    return BankChannel(debtor_from_settings({}))


@pytest.fixture
def req():
    return make_request


def package_file(package: str, relative: str) -> Path | None:
    """A data file shipped inside an installed package (without importing the package)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def pain001_schema():
    import xmlschema

    path = package_file("sepaxml", "schemas/pain.001.001.03.xsd")
    assert path is not None, "the test extra installs sepaxml, which ships the pain.001 XSD"
    return xmlschema.XMLSchema(str(path))


@pytest.fixture(scope="session")
def camt053_schema():
    import xmlschema

    path = package_file("camt053", "xsd/camt.053.001.02.xsd")
    if path is None:
        pytest.skip("install refund-portal-bank[xsd] (camt053) for the camt.053.001.02 XSD")
    return xmlschema.XMLSchema(str(path))


@pytest.fixture
def now() -> datetime:
    return NOW
