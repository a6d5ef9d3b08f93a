"""Alipay payout channel for refund-portal: ``alipay.trade.refund`` with RSA2, and a simulator."""
