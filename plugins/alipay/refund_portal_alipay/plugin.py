"""The plugin hook: registers the Alipay channel when it is configured."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from portal.channels import ChannelError
from portal.hookspecs import hookimpl
from refund_portal_alipay.channel import AlipayChannel
from refund_portal_alipay.devkeys import ensure_dev_keys

KEYS = ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY")
DEV_GATEWAY = "http://127.0.0.1:9101/gateway.do"


def channel_from_settings(settings: Mapping[str, Any]) -> AlipayChannel | None:
    """An AlipayChannel from the portal's settings, or None when Alipay is not configured."""
    values = {k: settings.get(k) for k in (*KEYS, "ALIPAY_GATEWAY_URL")}
    dev_dir = settings.get("DEV_KEYS_DIR")
    if not any(values.values()) and not dev_dir:
        return None
    if dev_dir and not all(values[k] for k in KEYS):
        dev = ensure_dev_keys(dev_dir)
        for k in KEYS:
            values[k] = values[k] or dev[k]
        values["ALIPAY_GATEWAY_URL"] = values["ALIPAY_GATEWAY_URL"] or DEV_GATEWAY
    missing = [k for k in (*KEYS, "ALIPAY_GATEWAY_URL") if not values[k]]
    if missing:
        raise ChannelError("alipay channel misconfigured: missing " + ", ".join(missing))
    return AlipayChannel(
        app_id=str(values["ALIPAY_APP_ID"]),
        gateway_url=str(values["ALIPAY_GATEWAY_URL"]),
        app_private_key=str(values["ALIPAY_APP_PRIVATE_KEY"]),
        alipay_public_key=str(values["ALIPAY_PUBLIC_KEY"]),
        timeout=float(settings.get("ALIPAY_TIMEOUT") or 10),
        notify_max_age=timedelta(seconds=int(settings.get("ALIPAY_NOTIFY_MAX_AGE") or 900)),
        replay_guard=settings.get("REPLAY_GUARD"),
    )


@hookimpl
def register_payout_channels(settings: Mapping[str, Any]) -> list[AlipayChannel]:
    """Register the Alipay channel if configured."""
    channel = channel_from_settings(settings)
    return [channel] if channel else []
