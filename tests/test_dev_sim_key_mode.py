"""``make run`` starts the WeChat Pay simulator in the key mode the portal is configured for,
so a demo in platform-certificate mode verifies end to end (real processes, real HTTP)."""

from __future__ import annotations

import os
from pathlib import Path

import requests
from refund_portal_wechat.plugin import channel_from_settings

from portal.dev.devsims import _wait_for, start_simulators
from portal.plugins.channels import ChannelServices


def test_the_wechat_simulator_runs_in_the_configured_key_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PORTAL_WECHAT_KEY_MODE": "platform_cert"}
    procs = start_simulators(tmp_path / "keys", env)
    try:
        url = env["PORTAL_WECHAT_GATEWAY_URL"]
        _wait_for(url)
        channel = channel_from_settings(
            {"WECHAT_KEY_MODE": "platform_cert", "WECHAT_GATEWAY_URL": url},
            ChannelServices(dev_keys_dir=env["PORTAL_DEV_KEYS_DIR"]),
        )
        assert channel is not None and channel.key_mode == "platform_cert"
        check = channel.check_connection()
        assert check.ok, check
        assert "certificates:" in check.detail
        assert requests.get(f"{url}/__sim__/ledger", timeout=5).ok
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
