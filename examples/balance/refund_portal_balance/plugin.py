"""Registers the store-credit channel with refund-portal (entry point ``balance``)."""

from __future__ import annotations

from portal import hookimpl
from portal.plugins.settings import PluginSettings, Setting
from refund_portal_balance.channel import BalanceChannel
from refund_portal_balance.wallet import Wallet


def _seconds(text: str) -> None:
    try:
        ok = float(text) > 0
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("a number of seconds above 0")


@hookimpl
def register_settings() -> list[Setting]:
    """Every setting the channel reads."""
    return [
        Setting(
            "BALANCE_LEDGER_PATH",
            "Wallet ledger file (SQLite)",
            required=True,
            help="shared by the web and worker processes; back it up with the database",
        ),
        Setting(
            "BALANCE_BUSY_TIMEOUT",
            "Wait for the ledger lock (seconds)",
            validator=_seconds,
            default="5",
        ),
    ]


@hookimpl
def register_payout_channels(settings: PluginSettings) -> list[BalanceChannel]:
    """The channel, when BALANCE_LEDGER_PATH is set; nothing otherwise."""
    path = settings.get("BALANCE_LEDGER_PATH")
    if not path:
        return []
    timeout = float(settings.get("BALANCE_BUSY_TIMEOUT") or 5)
    return [BalanceChannel(Wallet(str(path), busy_timeout_s=timeout))]
