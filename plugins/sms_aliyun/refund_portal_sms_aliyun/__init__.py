"""Alibaba Cloud SMS notifier plugin for refund-portal: SendSms (dysmsapi 2017-05-25)."""
