"""AlipayChannel against the simulator over real HTTP with real RSA2 signatures."""

from __future__ import annotations

import pytest
from refund_portal_alipay import signing
from refund_portal_alipay.amounts import fen_to_yuan, yuan_to_fen

from portal.channels import PaymentRef, RefundRequest, ResultStatus

PAYMENT = PaymentRef("alipay", "2026112822001", "PAY-1", 10000)


def req(key: str, amount: int, payment: PaymentRef = PAYMENT) -> RefundRequest:
    return RefundRequest(key, payment, amount, reason="test")


def test_sign_and_verify_round_trip(sim):
    key = signing.load_private(sim.keys["ALIPAY_APP_PRIVATE_KEY"])
    pub = signing.load_public(sim.keys["ALIPAY_APP_PUBLIC_KEY"])
    params = {"b": "2", "a": "1", "biz_content": {"x": "中文"}, "empty": "", "sign": "ignored"}
    text = signing.string_to_sign(params)
    assert text == 'a=1&b=2&biz_content={"x":"\\u4e2d\\u6587"}'
    sig = signing.sign(text, key)
    assert signing.verify(text, sig, pub)
    assert not signing.verify(text + "x", sig, pub)


@pytest.mark.parametrize(
    ("fen", "yuan"), [(1, "0.01"), (10, "0.10"), (123456, "1234.56"), (0, "0.00")]
)
def test_amounts(fen, yuan):
    assert fen_to_yuan(fen) == yuan and yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("bad", ["1.001", "-1", "abc", "NaN", ""])
def test_bad_amounts(bad):
    with pytest.raises(ValueError):
        yuan_to_fen(bad)


def test_full_refund(channel, sim):
    r = channel.execute_refund(req("K1", 10000))
    assert r.status == ResultStatus.SUCCEEDED and r.gateway_reference == "2026112822001"
    assert [m["amount_fen"] for m in sim.movements()] == [10000]


def test_two_partials_sum_to_total_and_over_refund_refused(channel, sim):
    assert channel.execute_refund(req("K1", 6000)).status == ResultStatus.SUCCEEDED
    assert channel.execute_refund(req("K2", 4000)).status == ResultStatus.SUCCEEDED
    over = channel.execute_refund(req("K3", 1))
    assert over.status == ResultStatus.FAILED and over.code == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    assert sum(m["amount_fen"] for m in sim.movements()) == 10000


def test_same_key_twice_moves_money_once(channel, sim):
    first = channel.execute_refund(req("K1", 3000))
    again = channel.execute_refund(req("K1", 3000))
    assert first.status == again.status == ResultStatus.SUCCEEDED
    assert (first.code, again.code) == ("Y", "N")  # fund_change
    assert len(sim.movements()) == 1


def test_same_key_other_amount_is_discordant(channel, sim):
    channel.execute_refund(req("K1", 3000))
    r = channel.execute_refund(req("K1", 3001))
    assert r.status == ResultStatus.FAILED and r.code == "ACQ.DISCORDANT_REPEAT_REQUEST"
    assert len(sim.movements()) == 1


def test_unknown_trade_fails(channel):
    r = channel.execute_refund(req("K1", 100, PaymentRef("alipay", "NOPE", "NOPE", 100)))
    assert r.status == ResultStatus.FAILED and r.code == "ACQ.TRADE_NOT_EXIST"


def test_system_error_is_unknown_then_query_resolves(channel, sim):
    sim.misbehave("system_error")
    r = channel.execute_refund(req("K1", 500))
    assert r.status == ResultStatus.UNKNOWN and r.code == "ACQ.SYSTEM_ERROR"
    q = channel.query_refund(req("K1", 500))
    assert q.status == ResultStatus.PENDING and q.code == "NOT_FOUND"  # nothing moved: resend
    assert channel.execute_refund(req("K1", 500)).status == ResultStatus.SUCCEEDED
    assert len(sim.movements()) == 1


def test_timeout_after_money_moved_is_unknown_and_query_finds_one_movement(channel, sim):
    sim.misbehave("timeout_after_move")
    r = channel.execute_refund(req("K1", 2500))
    assert r.status == ResultStatus.UNKNOWN and r.code == "TIMEOUT"
    q = channel.query_refund(req("K1", 2500))
    assert q.status == ResultStatus.SUCCEEDED and q.amount_fen == 2500
    assert len(sim.movements()) == 1


def test_tampered_response_is_not_trusted(channel, sim, monkeypatch):
    real = signing.sign
    monkeypatch.setattr(signing, "sign", lambda content, key: real(content + " ", key))
    r = channel.execute_refund(req("K1", 100))
    assert (
        r.status == ResultStatus.UNKNOWN
    )  # the simulator still refused: our request signature broke


def test_unreachable_gateway_is_unknown(tmp_path):
    from refund_portal_alipay.plugin import channel_from_settings

    ch = channel_from_settings(
        {"DEV_KEYS_DIR": str(tmp_path), "ALIPAY_GATEWAY_URL": "http://127.0.0.1:9/gateway.do"}
    )
    assert ch.execute_refund(req("K1", 100)).status == ResultStatus.UNKNOWN
