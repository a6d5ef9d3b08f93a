"""Fixtures: a running simulator and a channel pointed at it, with a fresh dev key set."""

from __future__ import annotations

import pytest
from refund_portal_alipay.plugin import channel_from_settings
from refund_portal_alipay.simulator import AlipaySimulator

from portal.plugins.channels import ChannelServices


@pytest.fixture
def sim(tmp_path):
    with AlipaySimulator(tmp_path / "keys", hang_s=3, late_s=0.5) as s:
        s.add_trade("2026112822001", "PAY-1", 10000)
        yield s


@pytest.fixture
def channel(sim, tmp_path):
    return channel_from_settings(
        {"ALIPAY_GATEWAY_URL": sim.url, "ALIPAY_TIMEOUT": "1"},
        ChannelServices(dev_keys_dir=str(tmp_path / "keys")),
    )
