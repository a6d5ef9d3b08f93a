"""BankChannel's refund calls: validation, PENDING until a statement, idempotence."""

from __future__ import annotations

import pytest
from refund_portal_bank.channel import BankChannel
from refund_portal_bank.plugin import debtor_from_settings

from portal.plugins.channels import (
    ArrivalWindow,
    BatchExporter,
    ChannelError,
    ResultStatus,
    StatementImporter,
)


def test_identity_and_arrival(channel, req):
    assert channel.id == "bank"
    assert (channel.label.zh, channel.label.en) == ("银行卡", "Bank card")
    assert channel.arrival(req().payment) == ArrivalWindow("working_days", 1, 3)


def test_declares_batch_export_and_statement_import(channel):
    # the portal offers the export and statement screens for these capabilities, not for an id
    assert isinstance(channel, BatchExporter) and isinstance(channel, StatementImporter)


def test_execute_is_pending_under_the_end_to_end_id(channel, req):
    result = channel.execute_refund(req("RP00AB", 12345))
    assert result.status is ResultStatus.PENDING
    assert result.gateway_reference == "RP00AB"
    assert result.raw["amount"] == "123.45"
    # The full card number is not copied into the stored raw answer.
    assert result.raw["account"] == "6222***********0123"
    assert "6222021234567890123" not in repr(result.raw)


def test_execute_twice_is_harmless(channel, req):
    request = req("RP0001", 500)
    first = channel.execute_refund(request)
    second = channel.execute_refund(request)
    assert first == second
    assert first.status is ResultStatus.PENDING
    # Executing twice changes nothing in what gets paid: one transfer in the batch.
    data = channel.export_batch([request], "csv")
    assert data.count(b"RP0001") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "missing creditor data: account_name, account_no, bank_name"),
        ({"account_name": "张三", "account_no": "6222000011112222"}, "bank_name"),
        ({"account_name": " ", "account_no": "6222000011112222", "bank_name": "B"}, "account_name"),
        ({"account_name": "张三", "account_no": "62-22", "bank_name": "B"}, "8..34 digits"),
        ({"account_name": "张三", "account_no": "1234567", "bank_name": "B"}, "8..34 digits"),
        ({"account_name": "a\x00b", "account_no": "6222000011112222", "bank_name": "B"}, "control"),
        ({"account_name": "x" * 141, "account_no": "6222000011112222", "bank_name": "B"}, "140"),
        (
            {
                "account_name": "张三",
                "account_no": "6222000011112222",
                "bank_name": "B",
                "bank_code": "1 2",
            },
            "bank_code",
        ),
    ],
)
def test_bad_creditor_data_fails_with_a_clear_message(channel, req, extra, message):
    result = channel.execute_refund(req(extra=extra))
    assert result.status is ResultStatus.FAILED
    assert message in result.message
    assert result.code == "INVALID_CREDITOR"
    assert result.gateway_reference == ""


def test_currency_mismatch_fails(channel, req):
    result = channel.execute_refund(req(currency="USD"))
    assert result.status is ResultStatus.FAILED
    assert "does not match the bank account currency CNY" in result.message


def test_end_to_end_id_must_fit_iso20022(channel, req):
    assert channel.execute_refund(req("RP" + "A" * 33)).status is ResultStatus.PENDING  # 35
    too_long = channel.execute_refund(req("RP" + "A" * 34))  # 36 > Max35Text
    assert too_long.status is ResultStatus.FAILED
    assert "end-to-end id" in too_long.message
    assert channel.execute_refund(req("-RP1")).status is ResultStatus.FAILED
    assert channel.execute_refund(req("RP 1")).status is ResultStatus.FAILED


def test_core_style_keys_are_accepted(channel, req):
    # portal.services.money.payouts.new_key(): "RP" + 30 upper-case hex digits = 32 characters.
    key = "RP" + "0123456789ABCDEF0123456789ABCD"
    assert channel.execute_refund(req(key)).status is ResultStatus.PENDING


def test_request_for_another_channel_is_misuse(channel, req):
    with pytest.raises(ChannelError, match="belongs to channel 'wechat'"):
        channel.execute_refund(req(channel="wechat"))


def test_query_is_always_pending(channel, req):
    result = channel.query_refund(req("RP0009"))
    assert result.status is ResultStatus.PENDING
    assert result.gateway_reference == "RP0009"


def test_other_currency_channel(req):
    channel = BankChannel(debtor_from_settings({"BANK_CURRENCY": "usd"}))
    assert channel.currency == "USD"
    assert channel.execute_refund(req(currency="USD")).status is ResultStatus.PENDING
    assert channel.execute_refund(req()).status is ResultStatus.FAILED


def test_check_connection_makes_no_call_and_says_so():
    from refund_portal_bank.plugin import register_payout_channels

    from portal.plugins.settings import PluginSettings

    settings = {
        "BANK_DEBTOR_NAME": "Example Shop Ltd",
        "BANK_DEBTOR_ACCOUNT": "6212260200000000001",
        "BANK_DEBTOR_AGENT": "ICBKCNBJ",
        "BANK_CURRENCY": "",
    }
    (channel,) = register_payout_channels(PluginSettings(settings))
    found = channel.check_connection()
    assert found.ok is True
    assert found.words.en.startswith("No call made") and "未调用任何接口" in found.words.zh
    assert "6212***********0001" in found.words.en and "ICBKCNBJ" in found.words.en
    assert found.detail == ""  # no gateway said anything
    assert "6212260200000000001" not in found.words.en + found.detail  # never the whole number


def test_check_connection_fails_while_the_debtor_is_the_demo_placeholder():
    from refund_portal_bank.plugin import register_payout_channels

    from portal.plugins.settings import PluginSettings

    (channel,) = register_payout_channels(
        PluginSettings({"BANK_DEBTOR_ACCOUNT": "6212260200000000001"}, PLUGIN_KEYS)
    )
    found = channel.check_connection()
    assert found.ok is False
    assert "BANK_DEBTOR_AGENT, BANK_DEBTOR_NAME" in found.words.en
    assert "BANK_DEBTOR_ACCOUNT" not in found.words.en


PLUGIN_KEYS = ("BANK_DEBTOR_NAME", "BANK_DEBTOR_ACCOUNT", "BANK_DEBTOR_AGENT", "BANK_CURRENCY")
