"""Loading through the entry point and the settings the hook reads."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from refund_portal_wechat import plugin
from refund_portal_wechat.channel import WechatChannel

from portal.plugins.channels import ChannelError, MemoryReplayGuard, ResultStatus
from portal.plugins.manager import ChannelRegistry, make_plugin_manager


def test_entry_point_is_registered():
    found = {ep.name: ep for ep in entry_points(group="refund_portal")}
    assert "wechat" in found, "run: pip install -e plugins/wechat"
    assert found["wechat"].value == "refund_portal_wechat.plugin"
    assert found["wechat"].load() is plugin


def test_registry_from_plugins_yields_the_wechat_channel(keys, sim, new_trade, new_refund):
    guard = MemoryReplayGuard()
    settings = {
        **{name: keys[name] for name in plugin.KEY_SETTINGS},
        "WECHAT_GATEWAY_URL": sim.url,
        "WECHAT_TIMEOUT": "3",
        "REPLAY_GUARD": guard,
    }
    registry = ChannelRegistry.from_plugins(make_plugin_manager(), settings)
    assert "wechat" in registry
    channel = registry.get("wechat")
    assert isinstance(channel, WechatChannel)
    assert channel.timeout == 3.0
    assert channel._replay_guard is guard
    payment = new_trade(sim, 100)
    assert channel.execute_refund(new_refund(payment, 100)).status is ResultStatus.SUCCEEDED


def test_not_configured_registers_nothing():
    assert plugin.register_payout_channels({}) == []
    assert plugin.register_payout_channels({"ALIPAY_APP_ID": "2021"}) == []
    registry = ChannelRegistry.from_plugins(make_plugin_manager(), {})
    assert "wechat" not in registry


def test_partial_configuration_is_a_startup_error():
    with pytest.raises(ChannelError, match="WECHAT_APIV3_KEY"):
        plugin.register_payout_channels({"WECHAT_MCHID": "1900000109"})


def test_dev_keys_dir_fills_in_keys_and_points_at_the_local_simulator(keys_dir, keys):
    [channel] = plugin.register_payout_channels({"DEV_KEYS_DIR": keys_dir})
    assert channel.gateway_url == plugin.DEV_GATEWAY == "http://127.0.0.1:9102"
    assert channel.mchid == keys["WECHAT_MCHID"]
    assert channel.cert_serial == keys["WECHAT_CERT_SERIAL"]
    assert channel.timeout == 10.0
    [other] = plugin.register_payout_channels(
        {"DEV_KEYS_DIR": keys_dir, "WECHAT_GATEWAY_URL": "http://127.0.0.1:9999/"}
    )
    assert other.gateway_url == "http://127.0.0.1:9999"


def test_production_settings_default_to_the_real_gateway(keys):
    [channel] = plugin.register_payout_channels({n: keys[n] for n in plugin.KEY_SETTINGS})
    assert channel.gateway_url == "https://api.mch.weixin.qq.com"
