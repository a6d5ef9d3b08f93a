"""The installed package registers the bank channel through the refund_portal entry point."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib.metadata import entry_points

import pytest
import refund_portal_bank.plugin as bank_plugin
from refund_portal_bank.channel import BankChannel

from portal.plugins.channels import ChannelError
from portal.plugins.manager import ChannelRegistry, make_plugin_manager
from portal.plugins.settings import PluginSettings


def test_entry_point_is_declared():
    found = [ep for ep in entry_points(group="refund_portal") if ep.name == "bank"]
    assert len(found) == 1, "pip install -e plugins/bank first"
    assert found[0].value == "refund_portal_bank.plugin"
    assert found[0].load() is bank_plugin


def test_registry_from_installed_plugins_yields_the_bank_channel():
    registry = ChannelRegistry.from_plugins(make_plugin_manager(), {})
    assert "bank" in registry
    channel = registry.get("bank")
    assert isinstance(channel, BankChannel)
    assert channel.debtor.name == "Refund Portal Demo Co."
    assert channel.currency == "CNY"


def test_settings_are_used():
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(bank_plugin)
    settings = {
        "BANK_DEBTOR_NAME": "某某网络科技有限公司",
        "BANK_DEBTOR_ACCOUNT": "1001234567890123456",
        "BANK_DEBTOR_AGENT": "102100099996",  # a CNAPS code, not a BIC
        "BANK_CURRENCY": "CNY",
    }
    channel = ChannelRegistry.from_plugins(pm, settings).get("bank")
    assert channel.debtor.name == "某某网络科技有限公司"
    assert channel.debtor.account == "1001234567890123456"
    assert channel.debtor.agent == "102100099996"


def test_non_bic_agent_is_written_as_other_id(req, now, pain001_schema):
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(bank_plugin)
    channel = ChannelRegistry.from_plugins(pm, {"BANK_DEBTOR_AGENT": "102100099996"}).get("bank")
    data = channel.export_batch([req()], "pain.001", now=now)
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
    agent = ET.fromstring(data).find(".//p:DbtrAgt/p:FinInstnId", ns)
    assert agent.findtext("p:Othr/p:Id", namespaces=ns) == "102100099996"
    assert agent.find("p:BIC", ns) is None
    pain001_schema.validate(data)


@pytest.mark.parametrize(
    "settings",
    [
        {"BANK_CURRENCY": "yuan"},
        {"BANK_DEBTOR_ACCOUNT": "12 34"},
        {"BANK_DEBTOR_NAME": "=cmd"},
        {"BANK_DEBTOR_AGENT": "x" * 36},
    ],
)
def test_misconfiguration_is_refused_at_start_up(settings):
    with pytest.raises(ChannelError, match="bank channel misconfigured"):
        declared = [s.name for s in bank_plugin.register_settings()]
        bank_plugin.register_payout_channels(settings=PluginSettings(settings, declared))
