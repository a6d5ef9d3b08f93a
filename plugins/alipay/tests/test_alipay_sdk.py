"""Agreement with code we did not write: python-alipay-sdk calls the simulator and verifies it."""

from __future__ import annotations

from urllib.parse import parse_qsl

from alipay import AliPay
from refund_portal_alipay import signing


def sdk(sim) -> AliPay:
    client = AliPay(
        appid=sim.keys["ALIPAY_APP_ID"],
        app_notify_url=None,
        app_private_key_string=sim.keys["ALIPAY_APP_PRIVATE_KEY"],
        alipay_public_key_string=sim.keys["ALIPAY_PUBLIC_KEY"],
        sign_type="RSA2",
    )
    client._gateway = sim.url  # the SDK has no public setting for the gateway address
    return client


def test_sdk_refund_and_query_against_the_simulator(sim):
    client = sdk(sim)
    result = client.api_alipay_trade_refund(
        refund_amount="12.34",
        trade_no="2026112822001",
        out_request_no="SDK-1",
        refund_reason="不想要了",
    )  # the SDK raises if the simulator's response signature does not verify
    assert (
        result["code"] == "10000"
        and result["fund_change"] == "Y"
        and result["refund_fee"] == "12.34"
    )
    again = client.api_alipay_trade_refund(
        refund_amount="12.34", trade_no="2026112822001", out_request_no="SDK-1"
    )
    assert again["fund_change"] == "N"
    assert [m["amount_fen"] for m in sim.movements()] == [1234]
    query = client.api_alipay_trade_fastpay_refund_query("SDK-1", trade_no="2026112822001")
    assert query["refund_status"] == "REFUND_SUCCESS" and query["refund_amount"] == "12.34"


def test_sdk_verifies_the_simulators_notification(sim, channel):
    import threading
    import time

    from werkzeug.serving import make_server

    from portal.plugins.channels import PaymentRef, RefundRequest

    bodies: list[bytes] = []

    def app(environ, start_response):
        bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"success"]

    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/notify"  # the shop's payment notify_url
        sim.add_trade("2026112822002", "PAY-2", 10000, notify_url=url)
        payment = PaymentRef("alipay", "2026112822002", "PAY-2", 10000)
        channel.execute_refund(RefundRequest("N1", payment, 700))
        deadline = time.monotonic() + 5
        while not bodies and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        server.shutdown()
    data = dict(parse_qsl(bodies[0].decode()))
    signature = data.pop("sign")
    assert sdk(sim).verify(dict(data), signature)  # the SDK drops sign_type itself
    assert data["refund_fee"] == "7.00" and "send_back_fee" not in data
    data["refund_fee"] = "70.00"
    assert not sdk(sim).verify(data, signature)


def test_sdk_accepts_a_notification_signed_like_the_simulator(sim):
    key = signing.load_private(sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    params = {
        "notify_id": "x",
        "app_id": sim.keys["ALIPAY_APP_ID"],
        "out_biz_no": "K",
        "refund_fee": "1.00",
        "sign_type": "RSA2",
    }
    params["sign"] = signing.sign(signing.string_to_sign(params, ("sign", "sign_type")), key)
    data = dict(parse_qsl(__import__("urllib.parse").parse.urlencode(params)))
    signature = data.pop("sign")
    assert sdk(sim).verify(data, signature)
    data["refund_fee"] = "2.00"
    assert not sdk(sim).verify({**data, "sign_type": "RSA2"}, signature)
