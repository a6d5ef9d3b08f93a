"""The pluggy hook that registers the bank payout channel with refund-portal.

Settings (all optional; the channel needs no secrets, so it is always registered):

* ``BANK_DEBTOR_NAME``: the merchant's account holder name on batch files;
* ``BANK_DEBTOR_ACCOUNT``: the account the payouts are paid from;
* ``BANK_DEBTOR_AGENT``: the merchant's bank, as a BIC or another bank identifier;
* ``BANK_CURRENCY``: the account's currency, "CNY" by default.
"""

from __future__ import annotations

from collections.abc import Mapping

from portal import hookimpl
from portal.plugins.channels import ChannelError
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.words import Words
from refund_portal_bank.channel import BankChannel
from refund_portal_bank.records import Debtor

DEFAULTS = {
    "BANK_DEBTOR_NAME": "Refund Portal Demo Co.",
    "BANK_DEBTOR_ACCOUNT": "6200000000000000001",
    "BANK_DEBTOR_AGENT": "DEMOCNSHXXX",
    "BANK_CURRENCY": "CNY",
}


def debtor_from_settings(settings: Mapping[str, str]) -> Debtor:
    """The merchant's account from the portal settings; ChannelError if misconfigured."""

    def get(key: str) -> str:
        value = settings.get(key)
        return str(value).strip() if value not in (None, "") else DEFAULTS[key]

    try:
        return Debtor(
            name=get("BANK_DEBTOR_NAME"),
            account=get("BANK_DEBTOR_ACCOUNT"),
            agent=get("BANK_DEBTOR_AGENT"),
            currency=get("BANK_CURRENCY").upper(),
        )
    except ValueError as exc:
        raise ChannelError(f"bank channel misconfigured: {exc}") from None


@hookimpl
def register_payout_channels(settings: PluginSettings) -> list[BankChannel]:
    """Register the bank channel (always: it holds no credentials)."""
    unset = [key for key in DEFAULTS if settings.get(key) in (None, "")]
    return [BankChannel(debtor_from_settings(settings), unset)]


def _currency(text: str) -> None:
    if not (len(text) == 3 and text.isalpha()):
        raise ValueError(
            Words(
                zh="须为三个字母的 ISO 4217 币种代码，例如 CNY",
                en="a three-letter ISO 4217 code, e.g. CNY",
            )
        )


def _account(text: str) -> None:
    if not text.replace(" ", "").isalnum():
        raise ValueError(Words(zh="只能包含字母和数字", en="letters and digits only"))


@hookimpl
def register_settings() -> list[Setting]:
    """The settings above, for the operators' settings page (none is secret)."""
    return [
        Setting(
            "BANK_DEBTOR_NAME",
            Words(zh="批量文件上的付款户名", en="Account holder on batch files"),
            default=DEFAULTS["BANK_DEBTOR_NAME"],
        ),
        Setting(
            "BANK_DEBTOR_ACCOUNT",
            Words(zh="付款账号", en="Account the payouts are paid from"),
            validator=_account,
            default=DEFAULTS["BANK_DEBTOR_ACCOUNT"],
        ),
        Setting(
            "BANK_DEBTOR_AGENT",
            Words(
                zh="付款开户行（BIC 或其他银行代码）",
                en="The merchant's bank (BIC or other bank id)",
            ),
            default=DEFAULTS["BANK_DEBTOR_AGENT"],
        ),
        Setting(
            "BANK_CURRENCY",
            Words(zh="账户币种", en="Account currency"),
            validator=_currency,
            default=DEFAULTS["BANK_CURRENCY"],
        ),
    ]
