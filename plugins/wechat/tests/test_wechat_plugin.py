"""Loading through the entry point and the settings the hook reads."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from refund_portal_wechat import plugin
from refund_portal_wechat.channel import WechatChannel

from portal.plugins.channels import ChannelError, ChannelServices, MemoryReplayGuard, ResultStatus
from portal.plugins.manager import ChannelRegistry, make_plugin_manager
from portal.plugins.settings import PluginSettings


def register(values, dev_keys_dir=None):
    """Call the hook as the portal does: the plugin's own settings, and the services."""
    declared = {s.name for s in plugin.register_settings()}
    return plugin.register_payout_channels(
        PluginSettings(values, declared, "wechat"), ChannelServices(dev_keys_dir=dev_keys_dir)
    )


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
    }
    registry = ChannelRegistry.from_plugins(
        make_plugin_manager(), settings, ChannelServices(replay_guard=guard)
    )
    assert "wechat" in registry
    channel = registry.get("wechat")
    assert isinstance(channel, WechatChannel)
    assert channel.timeout == 3.0
    assert channel._replay_guard is guard
    payment = new_trade(sim, 100)
    assert channel.execute_refund(new_refund(payment, 100)).status is ResultStatus.SUCCEEDED


def test_not_configured_registers_nothing():
    assert register({}) == []
    assert register({"ALIPAY_APP_ID": "2021"}) == []
    registry = ChannelRegistry.from_plugins(make_plugin_manager(), {})
    assert "wechat" not in registry


def test_partial_configuration_is_a_startup_error():
    with pytest.raises(ChannelError, match="WECHAT_APIV3_KEY"):
        register({"WECHAT_MCHID": "1900000109"})


def test_dev_keys_dir_fills_in_keys_and_points_at_the_local_simulator(keys_dir, keys):
    [channel] = register({}, dev_keys_dir=keys_dir)
    assert channel.gateway_url == plugin.DEV_GATEWAY == "http://127.0.0.1:9102"
    assert channel.mchid == keys["WECHAT_MCHID"]
    assert channel.cert_serial == keys["WECHAT_CERT_SERIAL"]
    assert channel.timeout == 10.0
    [other] = register({"WECHAT_GATEWAY_URL": "http://127.0.0.1:9999/"}, dev_keys_dir=keys_dir)
    assert other.gateway_url == "http://127.0.0.1:9999"


def test_production_settings_default_to_the_real_gateway(keys):
    [channel] = register({n: keys[n] for n in plugin.KEY_SETTINGS})
    assert channel.gateway_url == "https://api.mch.weixin.qq.com"
