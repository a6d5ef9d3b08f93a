"""Registers the store-credit channel with refund-portal (entry point ``balance``)."""

from __future__ import annotations

from portal import hookimpl
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.words import Words
from refund_portal_balance.channel import BalanceChannel
from refund_portal_balance.wallet import Wallet


def _seconds(text: str) -> None:
    try:
        ok = float(text) > 0
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(Words(zh="须为大于 0 的秒数", en="a number of seconds above 0"))


@hookimpl
def register_settings() -> list[Setting]:
    """Every setting the channel reads."""
    return [
        Setting(
            "BALANCE_LEDGER_PATH",
            Words(zh="余额账本文件（SQLite）", en="Wallet ledger file (SQLite)"),
            required=True,
            help=Words(
                zh="网页进程和后台任务进程共用；与数据库一起备份",
                en="shared by the web and worker processes; back it up with the database",
            ),
        ),
        Setting(
            "BALANCE_BUSY_TIMEOUT",
            Words(zh="等待账本锁（秒）", en="Wait for the ledger lock (seconds)"),
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
