"""Loading through the entry point and the settings the hook reads."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from refund_portal_wechat import plugin
from refund_portal_wechat.channel import WechatChannel

from portal.plugins.channels import (
    ChannelError,
    ChannelServices,
    MemoryReplayGuard,
    NotificationRejected,
    ResultStatus,
)
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


# -- key modes in the settings --------------------------------------------------------------


def _base(keys):
    return {n: keys[n] for n in plugin.BASE_SETTINGS}


def test_certificate_mode_needs_no_public_key_and_takes_the_trust_chain_as_a_file(keys, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    ca = x509.load_pem_x509_certificate(keys["WECHAT_PLATFORM_CERT_CA"].encode())
    p7b = tmp_path / "CertTrustChain.p7b"  # DER PKCS#7, as WeChat Pay publishes it
    p7b.write_bytes(pkcs7.serialize_certificates([ca], Encoding.DER))
    [channel] = register({**_base(keys), "WECHAT_PLATFORM_CERT_CA": str(p7b)})
    assert channel.key_mode == "platform_cert"
    assert channel.keyring._trust_chain[0].subject == ca.subject
    [explicit] = register({**_base(keys), "WECHAT_KEY_MODE": "platform_cert"})
    assert explicit.key_mode == "platform_cert"


def test_public_key_and_switching_modes(keys):
    [channel] = register({n: keys[n] for n in plugin.KEY_SETTINGS})
    assert channel.key_mode == "public_key"
    assert channel.keyring.request_serial() == keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"]
    [both] = register(
        {**{n: keys[n] for n in plugin.KEY_SETTINGS}, "WECHAT_KEY_MODE": "cert_and_public_key"}
    )
    assert both.key_mode == "cert_and_public_key" and both.keyring.uses_certificates


def test_two_public_keys_at_once(keys, sim, new_trade):
    """While WeChat Pay replaces the public key, both are configured and each verifies."""
    from refund_portal_wechat import crypto
    from refund_portal_wechat.simulator import build_notification

    old = sim.gateway_keys.public_key
    new_id = sim.rotate_public_key()
    new = sim.gateway_keys.public_key
    settings = {
        **_base(keys),
        "WECHAT_PLATFORM_PUBLIC_KEY": keys["WECHAT_PLATFORM_PUBLIC_KEY"] + sim.public_key_pem(),
        "WECHAT_PLATFORM_PUBLIC_KEY_ID": f"{old.serial}, {new_id}",
        "WECHAT_GATEWAY_URL": sim.url,
    }
    with pytest.raises(ChannelError, match="one id per key, in order"):
        register({**settings, "WECHAT_PLATFORM_PUBLIC_KEY_ID": new_id})
    [channel] = register(settings)
    assert channel.keyring.public_key_ids() == [old.serial, new_id]
    payment = new_trade(sim, 100)
    sim.ledger.apply_refund(
        {
            "transaction_id": payment.gateway_trade_id,
            "out_refund_no": "TWO-KEYS",
            "amount": {"refund": 100, "total": 100, "currency": "CNY"},
        },
        outcome=lambda: "SUCCESS",
    )
    body = build_notification(sim.signer, sim.ledger.get("TWO-KEYS"))
    for signer in (old, new):
        headers = crypto.signed_headers(signer.private_key, signer.serial, body)
        assert channel.parse_notification(headers, body)[0].idempotency_key == "TWO-KEYS"
    # an id paired with the other key does not verify
    crossed = crypto.signed_headers(new.private_key, old.serial, body)
    with pytest.raises(NotificationRejected, match="bad platform signature"):
        channel.parse_notification(crossed, body)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"WECHAT_KEY_MODE": "both"}, "WECHAT_KEY_MODE is one of"),
        ({"WECHAT_KEY_MODE": "cert_and_public_key"}, "missing WECHAT_PLATFORM_PUBLIC_KEY"),
        ({"WECHAT_KEY_MODE": "public_key"}, "missing WECHAT_PLATFORM_PUBLIC_KEY"),
        ({"WECHAT_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_01"}, "missing WECHAT_PLATFORM_PUBLIC_KEY"),
        ({"WECHAT_PLATFORM_CERT_CA": "/nonexistent/CertTrustChain.p7b"}, "cannot read"),
        ({"WECHAT_PLATFORM_CERT_CA": "-----BEGIN CERTIFICATE-----\nAAAA\n"}, "trust chain"),
    ],
)
def test_inconsistent_key_modes_are_start_up_errors(keys, extra, message):
    with pytest.raises(ChannelError, match=message):
        register({**_base(keys), **extra})


def test_certificate_mode_with_a_public_key_set_must_say_switching(keys):
    with pytest.raises(ChannelError, match="cert_and_public_key"):
        register({**{n: keys[n] for n in plugin.KEY_SETTINGS}, "WECHAT_KEY_MODE": "platform_cert"})


def test_dev_keys_fill_in_certificate_mode_with_the_dev_trust_chain(keys_dir, keys):
    [channel] = register({"WECHAT_KEY_MODE": "platform_cert"}, dev_keys_dir=keys_dir)
    assert channel.key_mode == "platform_cert"
    assert channel.keyring.public_key_ids() == []
    assert len(channel.keyring._trust_chain) == 1


def test_settings_validators(keys):
    by_name = {s.name: s for s in plugin.register_settings()}
    for name, bad in [
        ("WECHAT_KEY_MODE", "both"),
        ("WECHAT_PLATFORM_PUBLIC_KEY_ID", "0112345"),
        ("WECHAT_PLATFORM_PUBLIC_KEY_ID", "PUB_KEY_ID_01, 02"),
    ]:
        with pytest.raises(ValueError):
            by_name[name].validator(bad)
    by_name["WECHAT_KEY_MODE"].validator("cert_and_public_key")
    by_name["WECHAT_PLATFORM_PUBLIC_KEY_ID"].validator("PUB_KEY_ID_01,PUB_KEY_ID_02")
