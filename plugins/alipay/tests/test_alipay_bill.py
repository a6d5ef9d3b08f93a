"""Alipay's daily trade bill through the simulator, over real HTTP: the signed download-URL
query, the ZIP, the GBK detail CSV with its header and summary lines; damaged files, another
day's file and a bill not there yet are refused or reported missing, never read as a bill."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from refund_portal_alipay import bill
from refund_portal_alipay.simulator.bills import PID, bill_zip

from portal.plugins.channels import (
    BillMissing,
    BillRefused,
    BillRow,
    PaymentRef,
    RefundRequest,
    ResultStatus,
)

# 2026-03-10 10:00 in Beijing
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
DAY = date(2026, 3, 10)


@pytest.fixture
def clocked(sim):
    moment = {"now": NOW}
    sim.set_clock(lambda: moment["now"])
    return moment


def refund(channel, key, fen, trade="2026112822001"):
    payment = PaymentRef("alipay", trade, "PAY-1", 10000)
    result = channel.execute_refund(RefundRequest(key, payment, fen))
    assert result.status is ResultStatus.SUCCEEDED, result
    return result


# --- hostile -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", ["bill_bad_zip", "bill_wrong_encoding", "bill_other_day", "bill_no_detail"]
)
def test_a_damaged_bill_is_refused(channel, sim, clocked, fault):
    refund(channel, "RQ-1", 1200)
    sim.misbehave(fault)
    with pytest.raises(BillRefused):
        list(channel.fetch_bill(DAY))
    assert [r.refund_no for r in channel.fetch_bill(DAY)] == ["RQ-1"]  # the next one is whole


def test_a_bill_not_there_yet_is_missing(channel, sim, clocked):
    with pytest.raises(BillMissing, match="bill_not_exist"):
        list(channel.fetch_bill(DAY + timedelta(days=1)))
    sim.misbehave("bill_missing")
    with pytest.raises(BillMissing):
        list(channel.fetch_bill(DAY))


def test_a_system_error_is_missing(channel, sim, clocked):
    sim.misbehave("system_error")
    with pytest.raises(BillMissing, match="SYSTEM_ERROR"):
        list(channel.fetch_bill(DAY))


def test_a_download_link_used_twice_is_missing_not_a_bill(channel, sim, clocked, monkeypatch):
    real = channel._download
    seen = []

    def twice(url):
        seen.append(url)
        real(url)
        return real(url)  # the link is spent: Alipay says 下载超时

    monkeypatch.setattr(channel, "_download", twice)
    with pytest.raises(BillMissing, match="HTTP 404"):
        list(channel.fetch_bill(DAY))
    assert seen and "token=" in seen[0]


@pytest.mark.parametrize(
    "text",
    [
        "",  # nothing at all
        "#支付宝业务明细查询\r\n",  # no day, no columns
        "#起始日期：[2026年03月10日 00:00:00]\r\n",  # a day, no columns
        "#起始日期：[2026年03月10日 00:00:00]\r\n支付宝交易号,业务类型\r\n",  # columns missing
    ],
)
def test_a_detail_file_without_its_parts_is_refused(text):
    with pytest.raises(BillRefused):
        list(bill.refund_rows(_zip(text), DAY))


@pytest.mark.parametrize(
    "received",
    ["12.00", "-12.001", "-abc", "-", "-1e3"],
)
def test_a_refund_row_whose_amount_does_not_read_refuses_the_bill(received):
    detail = bill.detail_text(bill_zip([_row("RQ-X", 1200)], DAY)).replace("-12.00", received)
    with pytest.raises(BillRefused):
        list(bill.refund_rows(_zip(detail), DAY))


def test_a_row_with_a_field_too_many_refuses_the_bill():
    detail = bill.detail_text(bill_zip([_row("RQ-X", 1200)], DAY))
    detail = detail.replace("RQ-X\t,", "RQ-X\t,extra,")
    with pytest.raises(BillRefused, match="fields"):
        list(bill.refund_rows(_zip(detail), DAY))


# --- the bill as published -----------------------------------------------------------------


def test_the_bill_shows_each_refund_of_the_day_by_out_request_no(channel, sim, clocked):
    refund(channel, "RQ-1", 1200)
    clocked["now"] = NOW + timedelta(hours=3)
    refund(channel, "RQ-2", 305)
    clocked["now"] = NOW + timedelta(days=1)
    refund(channel, "RQ-3", 100)  # the next day's bill
    rows = list(channel.fetch_bill(DAY))
    assert [(r.refund_no, r.amount_fen) for r in rows] == [("RQ-1", 1200), ("RQ-2", 305)]
    assert all(isinstance(r, BillRow) and r.gateway_reference == "2026112822001" for r in rows)
    assert rows[0].at == NOW and rows[1].at == NOW + timedelta(hours=3)
    assert [r.refund_no for r in channel.fetch_bill(DAY + timedelta(days=1))] == ["RQ-3"]


def test_the_file_is_gbk_with_header_and_summary_lines(channel, sim, clocked):
    refund(channel, "RQ-1", 1200)
    data = bill_zip([_row("RQ-1", 1200)], DAY)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        detail = zf.read(next(n for n in names if "汇总" not in n))
    assert names == [f"{PID}0156_20260310_业务明细.csv", f"{PID}0156_20260310_业务明细(汇总).csv"]
    text = detail.decode("gbk")
    assert text.startswith("#支付宝业务明细查询")
    assert "#起始日期：[2026年03月10日 00:00:00]" in text
    assert text.rstrip().splitlines()[-2].startswith("#交易合计")
    with pytest.raises(UnicodeDecodeError):
        detail.decode("utf-8")


def test_the_simulator_edits_the_bill_as_told(channel, sim, clocked):
    for key, fen in (("RQ-D", 100), ("RQ-A", 200), ("RQ-N", 300), ("RQ-T", 400)):
        refund(channel, key, fen)
    sim.bill_drop("RQ-D")
    sim.bill_amount("RQ-A", 201)
    sim.bill_next_day("RQ-N")
    sim.bill_twice("RQ-T")
    sim.bill_extra("RQ-STRANGER", 999, NOW + timedelta(minutes=5))
    rows = [(r.refund_no, r.amount_fen) for r in channel.fetch_bill(DAY)]
    assert sorted(rows) == [("RQ-A", 201), ("RQ-STRANGER", 999), ("RQ-T", 400), ("RQ-T", 400)]
    clocked["now"] = NOW + timedelta(days=1)
    assert [r.refund_no for r in channel.fetch_bill(DAY + timedelta(days=1))] == ["RQ-N"]


def _row(key, fen):
    return {
        "trade_no": "2026112822001",
        "out_trade_no": "PAY-1",
        "out_request_no": key,
        "total_fen": 10000,
        "amount_fen": fen,
        "at": datetime(2026, 3, 10, 10, 0),
        "created": "2026-03-10 09:00:00",
    }


def _zip(text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("x_业务明细.csv", text.encode("gbk"))
    return out.getvalue()
