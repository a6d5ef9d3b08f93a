"""The installed package is found through the refund_portal entry point and reads its settings."""

from __future__ import annotations

from importlib.metadata import entry_points

import refund_portal_balance.plugin as balance_plugin
from refund_portal_balance.channel import BalanceChannel

from portal.plugins.manager import ChannelRegistry, make_plugin_manager
from portal.plugins.settings import Setting
from portal.plugins.words import Words


def test_entry_point_loads_the_plugin():
    [ep] = [ep for ep in entry_points(group="refund_portal") if ep.name == "balance"]
    assert ep.dist.name == "refund-portal-balance"
    assert ep.load() is balance_plugin


def test_portal_registers_the_channel_when_configured(tmp_path):
    settings = {"BALANCE_LEDGER_PATH": str(tmp_path / "w.sqlite3"), "BALANCE_BUSY_TIMEOUT": "2"}
    channel = ChannelRegistry.from_plugins(make_plugin_manager(), settings).get("balance")
    assert isinstance(channel, BalanceChannel)
    assert channel.wallet.busy_timeout_s == 2.0
    assert "balance" not in ChannelRegistry.from_plugins(make_plugin_manager(), {})


def test_settings_are_declared_and_checked():
    declared = {s.name: s for s in balance_plugin.register_settings()}
    assert all(isinstance(s, Setting) for s in declared.values())
    assert declared["BALANCE_LEDGER_PATH"].check("") == "required"
    assert declared["BALANCE_BUSY_TIMEOUT"].check("soon") == Words(
        zh="须为大于 0 的秒数", en="a number of seconds above 0"
    )
    assert declared["BALANCE_BUSY_TIMEOUT"].check("2.5") == ""


def test_store_credit_lands_in_the_buyers_wallet(tmp_path):
    from refund_portal_balance.wallet import Wallet

    from portal.plugins.channels import PaymentRef, RefundRequest, ResultStatus

    wallet = Wallet(tmp_path / "w.sqlite3")
    wallet.record_payment("W1", "alice", 500)
    channel = BalanceChannel(wallet)
    request = RefundRequest("K1", PaymentRef("balance", "W1", "ORD-1", 500), 200)
    result = channel.execute_refund(request)
    assert (result.status, result.amount_fen) == (ResultStatus.SUCCEEDED, 200)
    assert wallet.balance_fen("alice") == 200
    changed = channel.execute_refund(RefundRequest("K1", request.payment, 300))
    assert (changed.status, changed.code) == (ResultStatus.FAILED, "DISCORDANT_REPEAT")
    assert wallet.balance_fen("alice") == 200
