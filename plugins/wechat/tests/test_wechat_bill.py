"""WeChat Pay's daily refund bill through the simulator, over real HTTP: the signed
``/v3/bill/tradebill`` answer, the signed download, the SHA1 ``hash_value``, gzip or not,
backquoted fields; a bad hash, a cut gzip, the wrong encoding, another day's rows, an
unsigned answer and a bill not there yet are refused or reported missing, never read."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from refund_portal_wechat import bill
from refund_portal_wechat.simulator import bills

from portal.plugins.channels import BillMissing, BillRefused, BillRow, RefundRequest, ResultStatus

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
DAY = date(2026, 3, 10)


@pytest.fixture
def clocked(sim):
    moment = {"now": NOW.timestamp()}
    sim.set_clock(lambda: moment["now"])
    return moment


def refund(channel, sim, new_trade, key, fen):
    payment = new_trade(sim, 10000)
    result = channel.execute_refund(RefundRequest(key, payment, fen))
    assert result.status is ResultStatus.SUCCEEDED, result
    return result


# --- hostile -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "gzipped"),
    [
        ("bill_bad_hash", True),
        ("bill_bad_hash", False),
        ("bill_bad_gzip", True),
        ("bill_bad_gzip", False),
        ("bill_wrong_encoding", True),
        ("bill_other_day", False),
    ],
)
def test_a_damaged_bill_is_refused(channel, sim, new_trade, clocked, fault, gzipped):
    refund(channel, sim, new_trade, "RF-1", 1200)
    sim.misbehave(fault)
    with pytest.raises(BillRefused):
        list(channel.fetch_bill(DAY, gzipped=gzipped))
    assert [r.refund_no for r in channel.fetch_bill(DAY, gzipped=gzipped)] == ["RF-1"]


def test_a_bill_not_there_yet_is_missing(channel, sim, clocked):
    with pytest.raises(BillMissing, match="NO_STATEMENT_EXIST"):
        list(channel.fetch_bill(DAY + timedelta(days=1)))
    sim.misbehave("bill_missing")
    with pytest.raises(BillMissing, match="NO_STATEMENT_EXIST"):
        list(channel.fetch_bill(DAY))
    sim.misbehave("system_error")
    with pytest.raises(BillMissing):
        list(channel.fetch_bill(DAY))


def test_an_answer_that_does_not_verify_is_not_believed(make_channel, sim, clocked, keys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    channel = make_channel(sim.url, platform_public_key=pem)  # not WeChat Pay's key
    with pytest.raises(BillMissing, match="does not verify"):
        list(channel.fetch_bill(DAY))


def test_a_download_address_off_the_gateway_is_refused(channel):
    with pytest.raises(BillRefused, match="not on the gateway"):
        channel._download_bill("https://evil.example/v3/billdownload/file?token=x")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace("`RF-X", "RF-X"),  # a field without its backquote
        lambda t: t.replace("`12.00", "`12.001", 1),  # sub-fen
        lambda t: t.replace("`12.00", "`1e3", 1),  # not yuan
        lambda t: t.replace("`RF-X", "`RF-X,`extra"),  # a field too many
        lambda t: t.split("总交易单数")[0],  # cut before the totals
        lambda t: t.replace("退款金额", "金额", 1),  # a column missing
        lambda t: "",  # nothing
    ],
)
def test_a_bill_that_does_not_read_exactly_is_refused(mangle):
    text = mangle(bills.bill_text([_row("RF-X", 1200)], "1900000001"))
    data = text.encode()
    checked = bill.unpacked(data, False, "SHA1", hashlib.sha1(data).hexdigest())
    with pytest.raises(BillRefused):
        list(bill.refund_rows(checked, DAY))


def test_an_unknown_hash_type_or_a_gzip_bomb_is_refused(monkeypatch):
    data = b"x"
    with pytest.raises(BillRefused, match="hash_type"):
        bill.unpacked(data, False, "MD5", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(bill, "MAX_BILL_BYTES", 1000)
    big = gzip.compress(b"0" * 5000)
    with pytest.raises(BillRefused, match="larger"):
        bill.unpacked(big, True, "SHA1", hashlib.sha1(b"0" * 5000).hexdigest())


# --- the bill as published -----------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [True, False])
def test_the_bill_shows_each_refund_of_the_day_by_out_refund_no(
    channel, sim, new_trade, clocked, gzipped
):
    first = refund(channel, sim, new_trade, "RF-1", 1200)
    clocked["now"] = NOW.timestamp() + 3 * 3600
    refund(channel, sim, new_trade, "RF-2", 305)
    clocked["now"] = NOW.timestamp() + 86400
    refund(channel, sim, new_trade, "RF-3", 100)
    rows = list(channel.fetch_bill(DAY, gzipped=gzipped))
    assert [(r.refund_no, r.amount_fen) for r in rows] == [("RF-1", 1200), ("RF-2", 305)]
    assert all(isinstance(r, BillRow) for r in rows)
    assert rows[0].gateway_reference == first.gateway_reference
    assert rows[0].at == NOW and rows[1].at == NOW + timedelta(hours=3)
    assert [r.refund_no for r in channel.fetch_bill(DAY + timedelta(days=1))] == ["RF-3"]


def test_the_file_has_backquoted_fields_and_totals(channel, sim, new_trade, clocked):
    text = bills.bill_text([_row("RF-X", 1200)], "1900000001")
    lines = text.strip().splitlines()
    assert lines[0].startswith("交易时间,公众账号ID,商户号")
    assert all(f.startswith("`") for f in lines[1].split(","))
    assert lines[2].startswith("总交易单数") and lines[3].startswith("`1,")


def test_the_simulator_edits_the_bill_as_told(channel, sim, new_trade, clocked):
    for key, fen in (("RF-D", 100), ("RF-A", 200), ("RF-N", 300), ("RF-T", 400)):
        refund(channel, sim, new_trade, key, fen)
    sim.bill_drop("RF-D")
    sim.bill_amount("RF-A", 201)
    sim.bill_next_day("RF-N")
    sim.bill_twice("RF-T")
    sim.bill_extra("RF-STRANGER", 999, NOW.timestamp() + 300)
    rows = [(r.refund_no, r.amount_fen) for r in channel.fetch_bill(DAY)]
    assert sorted(rows) == [("RF-A", 201), ("RF-STRANGER", 999), ("RF-T", 400), ("RF-T", 400)]
    clocked["now"] = NOW.timestamp() + 86400
    assert [r.refund_no for r in channel.fetch_bill(DAY + timedelta(days=1))] == ["RF-N"]


def _row(key, fen):
    at = datetime(2026, 3, 10, 10, 0)
    return {
        "transaction_id": "4200000001",
        "out_trade_no": "T1",
        "refund_id": "50000001",
        "out_refund_no": key,
        "total_fen": 10000,
        "refund_fen": fen,
        "applied": at,
        "done": at,
        "status": "SUCCESS",
    }
