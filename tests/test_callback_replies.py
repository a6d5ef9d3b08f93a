"""What the callbacks endpoint answers a gateway: each gateway's own failure format."""

from __future__ import annotations

import json

import pytest
from refund_portal_wechat.simulator import WechatSimulator


@pytest.fixture
def wechat_app(app, tmp_path):
    keys = tmp_path / "keys"
    sim = WechatSimulator(str(keys), hang_s=1).start()
    app.config.update(DEV_KEYS_DIR=str(keys), WECHAT_GATEWAY_URL=sim.url, WECHAT_TIMEOUT=1)
    from portal.plugins.startup import init_plugins  # cycle: the app fixture is built first

    init_plugins(app)
    yield app
    sim.stop()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"", {}),
        (b"{not json", {"Wechatpay-Signature": "forged"}),
        (
            json.dumps({"event_type": "REFUND.SUCCESS"}).encode(),
            {
                "Wechatpay-Timestamp": "1",
                "Wechatpay-Nonce": "n",
                "Wechatpay-Serial": "X",
                "Wechatpay-Signature": "Zm9yZ2Vk",
            },
        ),
    ],
)
def test_rejected_wechat_notification_gets_wechat_fail_json(wechat_app, body, headers):
    r = wechat_app.test_client().post("/callbacks/wechat", data=body, headers=headers)
    assert 400 <= r.status_code < 600
    assert r.mimetype == "application/json"
    answer = r.get_json()
    assert answer["code"] == "FAIL" and answer["message"].startswith("rejected: ")
    assert set(answer) == {"code", "message"}


def test_other_channels_keep_plain_text_failures(client):
    r = client.post("/callbacks/fakepay", data=b"{}", headers={"X-Fake-Signature": "forged"})
    assert r.status_code == 400 and r.mimetype == "text/plain"
