"""The plugin loads through the refund_portal entry point, exactly as a third party's would."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from refund_portal_alipay.channel import AlipayChannel

from portal.plugins.channels import ChannelError, ChannelServices
from portal.plugins.manager import ChannelRegistry, make_plugin_manager


def dev(tmp_path):
    """The services in development: a directory for generated keys."""
    return ChannelServices(dev_keys_dir=str(tmp_path))


def test_entry_point_is_registered():
    assert "alipay" in {ep.name for ep in entry_points(group="refund_portal")}


def test_registry_builds_the_channel_from_settings(tmp_path):
    registry = ChannelRegistry.from_plugins(make_plugin_manager(), {}, dev(tmp_path))
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


def test_bad_key_is_a_start_up_error_that_does_not_echo_it():
    settings = {
        "ALIPAY_APP_ID": "2021000000000001",
        "ALIPAY_GATEWAY_URL": "http://127.0.0.1:9101/gateway.do",
        "ALIPAY_APP_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----",
        "ALIPAY_PUBLIC_KEY": "nonsense",
    }
    with pytest.raises(ChannelError, match="misconfigured") as info:
        ChannelRegistry.from_plugins(make_plugin_manager(), settings)
    assert "c2VjcmV0" not in str(info.value)


@pytest.mark.parametrize("value", ["soon", "0", "-3"])
def test_bad_timeout_is_a_start_up_error(tmp_path, value):
    with pytest.raises(ChannelError, match="ALIPAY_TIMEOUT"):
        ChannelRegistry.from_plugins(
            make_plugin_manager(), {"ALIPAY_TIMEOUT": value}, dev(tmp_path)
        )


def test_settings_from_the_environment_are_strings(tmp_path):
    registry = ChannelRegistry.from_plugins(
        make_plugin_manager(),
        {"ALIPAY_TIMEOUT": "2.5", "ALIPAY_NOTIFY_MAX_AGE": "600"},
        dev(tmp_path),
    )
    channel = registry.get("alipay")
    assert channel.timeout == 2.5 and channel.notify_max_age.total_seconds() == 600


def test_dev_keys_are_made_once_and_reused(tmp_path):
    from refund_portal_alipay.devkeys import ensure_dev_keys

    first = ensure_dev_keys(tmp_path)
    assert ensure_dev_keys(tmp_path) == first
    assert first["ALIPAY_APP_PRIVATE_KEY"] != first["ALIPAY_GATEWAY_PRIVATE_KEY"]
    assert sorted(p.name for p in (tmp_path / "alipay").glob("*.pem")) == [
        "alipay_private.pem",
        "alipay_public.pem",
        "app_private.pem",
        "app_public.pem",
    ]


def test_declared_settings_check_values_without_showing_secrets(tmp_path):
    from refund_portal_alipay.devkeys import ensure_dev_keys

    from portal.plugins.settings import setting_states

    keys = ensure_dev_keys(tmp_path)
    config = {
        "ALIPAY_APP_ID": "2021000000000001",
        "ALIPAY_GATEWAY_URL": "ftp://example",
        "ALIPAY_APP_PRIVATE_KEY": keys["ALIPAY_APP_PRIVATE_KEY"],
        "ALIPAY_PUBLIC_KEY": keys["ALIPAY_PUBLIC_KEY"],
        "ALIPAY_TIMEOUT": "0",
    }
    states = {
        s.setting.name: s
        for s in setting_states(make_plugin_manager(), config)
        if s.setting.name.startswith("ALIPAY_")
    }
    assert set(states) == {
        "ALIPAY_APP_ID",
        "ALIPAY_GATEWAY_URL",
        "ALIPAY_APP_PRIVATE_KEY",
        "ALIPAY_PUBLIC_KEY",
        "ALIPAY_APP_CERT",
        "ALIPAY_PUBLIC_CERT",
        "ALIPAY_ROOT_CERT",
        "ALIPAY_DEPOSIT_BACK",
        "ALIPAY_TIMEOUT",
        "ALIPAY_NOTIFY_MAX_AGE",
    }
    assert states["ALIPAY_APP_PRIVATE_KEY"].shown == "set"
    assert states["ALIPAY_APP_PRIVATE_KEY"].problem == ""
    assert states["ALIPAY_PUBLIC_KEY"].problem == ""
    assert "http" in states["ALIPAY_GATEWAY_URL"].problem.en
    assert "http" in states["ALIPAY_GATEWAY_URL"].problem.zh  # both languages name the form
    assert states["ALIPAY_TIMEOUT"].problem
    assert states["ALIPAY_NOTIFY_MAX_AGE"].shown == "86400"
    bad = setting_states(make_plugin_manager(), {"ALIPAY_APP_PRIVATE_KEY": "not a key"})
    assert [str(s.problem) for s in bad if s.setting.name == "ALIPAY_APP_PRIVATE_KEY"] == [
        "不是 PEM 格式的 RSA 私钥"  # outside a request: the portal's default language
    ]
