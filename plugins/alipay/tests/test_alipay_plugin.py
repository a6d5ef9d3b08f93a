"""The plugin loads through the refund_portal entry point, exactly as a third party's would."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from refund_portal_alipay.channel import AlipayChannel

from portal.channels import ChannelError
from portal.plugins import ChannelRegistry, make_plugin_manager


def test_entry_point_is_registered():
    assert "alipay" in {ep.name for ep in entry_points(group="refund_portal")}


def test_registry_builds_the_channel_from_settings(tmp_path):
    registry = ChannelRegistry.from_plugins(make_plugin_manager(), {"DEV_KEYS_DIR": str(tmp_path)})
    channel = registry.get("alipay")
    assert isinstance(channel, AlipayChannel) and channel.gateway_url.endswith("/gateway.do")


def test_not_configured_registers_nothing():
    registry = ChannelRegistry.from_plugins(make_plugin_manager(), {})
    assert "alipay" not in registry


def test_half_configured_is_a_start_up_error():
    with pytest.raises(ChannelError, match="missing ALIPAY_APP_PRIVATE_KEY"):
        ChannelRegistry.from_plugins(
            make_plugin_manager(), {"ALIPAY_APP_ID": "1", "ALIPAY_GATEWAY_URL": "http://x"}
        )
