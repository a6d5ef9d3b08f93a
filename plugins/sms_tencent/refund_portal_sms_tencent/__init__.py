"""Tencent Cloud SMS notifier plugin for refund-portal: SendSms (2021-01-11)."""
