"""The row mapping on its own: hostile values first, then the status table against
dujiaoka's numbers (app/Models/Order.php) and the gateway settings."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from refund_portal_dujiaoka.mapping import (
    DEFAULT_GATEWAYS,
    STATUS,
    parse_gateways,
    position_text,
    to_source_order,
)

from portal.domain.order_sources import SourceOrderState, SourceProblem

CN = ZoneInfo("Asia/Shanghai")


def row(**over):
    base = {
        "id": 7,
        "order_sn": "ABCDEFGH12345678",
        "goods_id": 1,
        "type": 1,
        "status": 4,
        "title": "月卡 x 1",
        "goods_price": "19.90",
        "actual_price": "19.90",
        "buy_amount": 1,
        "search_pwd": "pw1234",
        "email": "a@example.com",
        "info": "C1\r\nC2",
        "pay_id": 1,
        "trade_no": "T1",
        "created_at": datetime(2026, 12, 1, 10, 0, 0),
        "updated_at": datetime(2026, 12, 1, 10, 0, 9),
        "gd_name": "月卡",
        "gd_description": "",
        "gd_actual_price": "19.90",
        "pay_check": "zfbf2f",
        "pay_name": "支付宝当面付",
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"status": 7}, SourceProblem.UNKNOWN_STATUS),
        ({"status": None}, SourceProblem.UNKNOWN_STATUS),
        ({"status": "4"}, SourceProblem.UNKNOWN_STATUS),
        ({"pay_check": None}, SourceProblem.UNKNOWN_GATEWAY),
        ({"pay_check": "paypal"}, SourceProblem.UNKNOWN_GATEWAY),
        ({"search_pwd": None}, SourceProblem.NO_QUERY_PASSWORD),
        ({"email": b"\xe9\xe8"}, SourceProblem.BAD_TEXT),
        ({"info": "ok\udce9"}, SourceProblem.BAD_TEXT),
        ({"actual_price": None}, SourceProblem.BAD_AMOUNT),
        ({"actual_price": "-1.00"}, SourceProblem.BAD_AMOUNT),
        ({"goods_price": "NaN"}, SourceProblem.BAD_AMOUNT),
        ({"created_at": "0000-00-00 00:00:00", "updated_at": None}, SourceProblem.BAD_TIME),
    ],
)
def test_hostile_rows_become_problems_naming_the_row(over, problem):
    got = to_source_order(row(**over), DEFAULT_GATEWAYS, CN)
    assert got.problem == problem
    assert got.detail["row_id"] == "7"
    assert got.order_no == "ABCDEFGH12345678"


def test_a_damaged_order_number_is_still_shown():
    got = to_source_order(row(order_sn="AB\udce9", status=7), DEFAULT_GATEWAYS, CN)
    assert got.order_no == "AB?"


def test_every_dujiaoka_status_is_mapped():
    assert set(STATUS) == {1, 2, 3, 4, 5, 6, -1}
    assert [n for n, s in STATUS.items() if s == SourceOrderState.UNPAID] == [1, -1]


def test_a_completed_automatic_order_carries_its_codes_and_times_in_utc():
    got = to_source_order(row(), DEFAULT_GATEWAYS, CN)
    assert got.problem is None
    assert got.codes == ("C1", "C2")
    assert got.paid_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert got.delivered_at == datetime(2026, 12, 1, 2, 0, 9, tzinfo=UTC)
    assert (got.amount_fen, got.channel) == (1990, "alipay")


def test_positions_keep_the_shops_text():
    assert position_text(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02 03:04:05"
    assert position_text("0000-00-00 00:00:00") == "0000-00-00 00:00:00"
    assert position_text(None) is None


@pytest.mark.parametrize("text", ["alipay", "=alipay", "alipay=", "a=b,c"])
def test_gateway_settings_that_are_not_pairs_are_refused(text):
    with pytest.raises(ValueError, match="pay_check=channel"):
        parse_gateways(text)


def test_gateway_settings_add_to_the_defaults():
    assert parse_gateways(" wxpay = wechat ,") == {**DEFAULT_GATEWAYS, "wxpay": "wechat"}
