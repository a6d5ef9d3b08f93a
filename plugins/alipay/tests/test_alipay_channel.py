"""AlipayChannel against the simulator over real HTTP with real RSA2 signatures."""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import parse_qsl

import pytest
import requests
from refund_portal_alipay import signing
from refund_portal_alipay.amounts import fen_to_yuan, yuan_to_fen
from werkzeug.serving import make_server

from portal.plugins.channels import PaymentRef, RefundRequest, ResultStatus

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


class Tamperer:
    """A man in the middle between the channel and the simulator that rewrites answers."""

    def __init__(self, upstream: str, rewrite) -> None:
        self.upstream, self.rewrite = upstream, rewrite
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/gateway.do"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        resp = requests.post(
            self.upstream,
            data=body,
            headers={"Content-Type": environ.get("CONTENT_TYPE", "")},
            timeout=5,
        )
        start_response("200 OK", [("Content-Type", "application/json;charset=utf-8")])
        return [self.rewrite(resp.text).encode()]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _channel_via(sim, tmp_path, url):
    from refund_portal_alipay.plugin import channel_from_settings

    from portal.plugins.channels import ChannelServices

    return channel_from_settings(
        {"ALIPAY_GATEWAY_URL": url, "ALIPAY_TIMEOUT": "2"},
        ChannelServices(dev_keys_dir=str(tmp_path / "keys")),
    )


@pytest.mark.parametrize(
    ("rewrite", "code"),
    [
        (lambda text: text.replace('"fund_change":"Y"', '"fund_change":"Y" '), "BAD_SIGNATURE"),
        (lambda text: text.replace('"refund_fee":"1.00"', '"refund_fee":"9.00"'), "BAD_SIGNATURE"),
        (lambda text: text[: text.rindex(',"sign"')] + "}", "BAD_SIGNATURE"),
        (lambda text: text[:20], "HTTP_200"),
        (lambda text: '{"error_response":{"code":"40002","sub_code":"isv.x"}}', "HTTP_200"),
    ],
    ids=["whitespace", "amount", "unsigned", "truncated", "unsigned-error"],
)
def test_tampered_or_unsigned_answer_is_unknown_and_query_resolves(sim, tmp_path, rewrite, code):
    tamperer = Tamperer(sim.url, rewrite)
    try:
        r = _channel_via(sim, tmp_path, tamperer.url).execute_refund(req("K1", 100))
    finally:
        tamperer.close()
    assert r.status == ResultStatus.UNKNOWN and r.code == code, r
    assert len(sim.movements()) == 1  # the money did move: only the answer was bad
    q = _channel_via(sim, tmp_path, sim.url).query_refund(req("K1", 100))
    assert q.status == ResultStatus.SUCCEEDED and q.amount_fen == 100


def test_response_content_is_cut_from_the_raw_text():
    raw = '{"x_response" : {"a":"}{\\"","b":{"c":1}} ,"sign":"s"}'
    assert signing.response_content(raw, "x_response") == '{"a":"}{\\"","b":{"c":1}}'
    assert signing.response_content('{"msg":"x_response","x_response":{}}', "x_response") == "{}"
    assert signing.response_content('{"other":{}}', "x_response") is None
    assert signing.response_content('{"x_response":"text"}', "x_response") is None


def test_single_partial_refund(channel, sim):
    r = channel.execute_refund(req("K1", 2550))
    assert r.status == ResultStatus.SUCCEEDED and r.amount_fen == 2550
    assert r.raw["refund_fee"] == "25.50"  # the trade's running total
    assert "send_back_fee" not in r.raw  # not sent unless asked for with query_options
    q = channel.query_refund(req("K1", 2550))
    assert q.status == ResultStatus.SUCCEEDED and q.amount_fen == 2550
    assert sim.movements() == [
        {"trade_no": "2026112822001", "out_request_no": "K1", "amount_fen": 2550}
    ]


def test_second_partial_reports_its_own_amount_not_the_trade_total(channel, sim):
    channel.execute_refund(req("K1", 1000))
    second = channel.execute_refund(req("K2", 500))
    assert second.raw["refund_fee"] == "15.00"  # Alipay's refund_fee is the trade's total
    assert second.amount_fen == 500
    assert channel.query_refund(req("K2", 500)).amount_fen == 500


def test_repeat_with_fund_change_n_is_confirmed_by_query(channel, sim):
    channel.execute_refund(req("K1", 3000))
    again = channel.execute_refund(req("K1", 3000))
    assert again.status == ResultStatus.SUCCEEDED and again.code == "N"
    assert again.raw["refund"]["fund_change"] == "N"
    assert again.raw["query"]["refund_status"] == "REFUND_SUCCESS"
    assert again.amount_fen == 3000 and again.gateway_reference == "2026112822001"


def test_query_of_a_refund_never_made_says_not_found(channel, sim):
    q = channel.query_refund(req("NEVER", 100))
    assert q.status == ResultStatus.PENDING and q.code == "NOT_FOUND"
    assert sim.movements() == []


def test_query_error_is_unknown_never_failed(channel, sim):
    q = channel.query_refund(req("K1", 100, PaymentRef("alipay", "NOPE", "NOPE", 100)))
    assert q.status == ResultStatus.UNKNOWN and q.code == "ACQ.TRADE_NOT_EXIST"
    sim.misbehave("system_error")
    q = channel.query_refund(req("K1", 100))
    assert q.status == ResultStatus.UNKNOWN and q.code == "ACQ.SYSTEM_ERROR"


def test_request_is_signed_with_the_documented_common_parameters(channel, sim, monkeypatch):
    sent = {}
    real_request = channel._http.request

    def spy(method, path, body, headers):
        # a urlencoded form, as Alipay expects
        assert method == "POST" and headers["Content-Type"].startswith(
            "application/x-www-form-urlencoded"
        )
        fields = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True))
        sent.update(fields)
        return real_request(method, path, body, headers)

    monkeypatch.setattr(channel._http, "request", spy)
    channel.execute_refund(
        RefundRequest("K1", PAYMENT, 1234, reason="不想要了", notify_url="http://127.0.0.1:1/n")
    )
    assert sent["method"] == "alipay.trade.refund" and sent["app_id"] == channel.app_id
    assert (sent["charset"], sent["sign_type"], sent["version"]) == ("utf-8", "RSA2", "1.0")
    assert "notify_url" not in sent  # Alipay notifies the payment's notify_url, not this
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", sent["timestamp"])
    assert json.loads(sent["biz_content"]) == {
        "out_request_no": "K1",
        "refund_amount": "12.34",
        "refund_reason": "不想要了",
        "trade_no": "2026112822001",
        "out_trade_no": "PAY-1",
    }
    assert " " not in sent["biz_content"] and "不想要了" in sent["biz_content"]  # compact, raw
    public = signing.load_public(sim.keys["ALIPAY_APP_PUBLIC_KEY"])
    assert signing.verify(signing.string_to_sign(sent), sent["sign"], public)


def test_retry_sends_byte_identical_business_fields(channel):
    request = req("K1", 999)
    assert json.dumps(channel.refund_biz(request)) == json.dumps(channel.refund_biz(request))


def test_unreachable_gateway_is_unknown(tmp_path):
    from refund_portal_alipay.plugin import channel_from_settings

    from portal.plugins.channels import ChannelServices

    ch = channel_from_settings(
        {"ALIPAY_GATEWAY_URL": "http://127.0.0.1:9/gateway.do"},
        ChannelServices(dev_keys_dir=str(tmp_path)),
    )
    assert ch.execute_refund(req("K1", 100)).status == ResultStatus.UNKNOWN


def test_a_signed_answer_whose_running_total_cannot_hold_the_refund_is_checked_by_query(
    channel, sim
):
    sim.misbehave("refund_fee_short")  # fund_change=Y, but refund_fee "0.01" for a 21.00 refund
    r = channel.execute_refund(req("S1", 2100))
    assert r.raw["refund"]["refund_fee"] == "0.01" and r.raw["refund"]["fund_change"] == "Y"
    assert r.status == ResultStatus.SUCCEEDED and r.amount_fen == 2100  # what the query says
    assert r.raw["query"]["refund_amount"] == "21.00"


def test_a_refund_of_another_amount_under_the_key_never_settles(channel, sim):
    assert channel.execute_refund(req("S2", 1)).status == ResultStatus.SUCCEEDED  # 0.01
    q = channel.query_refund(req("S2", 2100))
    assert q.status == ResultStatus.UNKNOWN and q.code == "AMOUNT_MISMATCH" and q.amount_fen == 1
    again = channel.execute_refund(req("S2", 2100))
    assert again.status == ResultStatus.FAILED and again.code == "ACQ.DISCORDANT_REPEAT_REQUEST"


def test_query_asks_for_what_it_needs_and_an_answer_without_status_is_not_success(
    channel, sim, monkeypatch
):
    channel.execute_refund(req("Q1", 700))
    sent = {}
    real = channel._http.request

    def spy(method, path, body, headers):
        sent.update(parse_qsl(body.decode("ascii")))
        return real(method, path, body, headers)

    monkeypatch.setattr(channel._http, "request", spy)
    ok = channel.query_refund(req("Q1", 700))
    assert json.loads(sent["biz_content"])["query_options"] == [
        "gmt_refund_pay",
        "deposit_back_info",
    ]
    assert ok.status == ResultStatus.SUCCEEDED and ok.raw["gmt_refund_pay"]
    sim.misbehave("query_without_status")  # refund_amount there, refund_status not
    q = channel.query_refund(req("Q1", 700))
    assert q.raw["refund_amount"] == "7.00" and "refund_status" not in q.raw
    assert q.status == ResultStatus.PENDING and q.code == "NOT_FOUND"  # never a success
