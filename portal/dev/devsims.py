"""``make run`` only: start the local gateway simulators and tell them about the demo trades.

Each simulator speaks its gateway's real protocol with real signatures, so the demo
refunds end to end with no internet. Simulators keep their ledger in memory; the
demo's trades are registered again at every start.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import select

from portal.extensions import db
from portal.models import Payment


@dataclass(frozen=True)
class Sim:
    """How to run one simulator and point its channel at it."""

    channel: str
    module: str
    url_setting: str
    path: str
    trade_id_field: str
    #: a setting whose value, when set, is the simulator's ``--key-mode`` (the channel reads it too)
    key_mode_setting: str = ""


SIMS = (
    Sim(
        "alipay",
        "refund_portal_alipay.simulator",
        "ALIPAY_GATEWAY_URL",
        "/gateway.do",
        "trade_no",
    ),
    Sim(
        "wechat",
        "refund_portal_wechat.simulator",
        "WECHAT_GATEWAY_URL",
        "",
        "transaction_id",
        key_mode_setting="WECHAT_KEY_MODE",
    ),
)


def start_simulators(keys_dir: Path, env: MutableMapping[str, str]) -> list[subprocess.Popen]:
    """Start every installed simulator on a free port; set PORTAL_<CHANNEL>_GATEWAY_URL in ``env``.

    Free ports, not fixed ones: two demos on one machine must never pay each other's refunds.
    A simulator with a key mode runs in the one the portal is configured for
    (``PORTAL_WECHAT_KEY_MODE=platform_cert make run`` demonstrates platform certificates).
    """
    keys_dir.mkdir(parents=True, exist_ok=True)
    env["PORTAL_DEV_KEYS_DIR"] = str(keys_dir)
    procs = []
    for sim in SIMS:
        if importlib.util.find_spec(sim.module.split(".")[0]) is None:
            continue
        port = free_port()
        mode = env.get(f"PORTAL_{sim.key_mode_setting}") if sim.key_mode_setting else None
        procs.append(
            subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                [
                    sys.executable,
                    "-m",
                    sim.module,
                    "--keys-dir",
                    str(keys_dir),
                    "--port",
                    str(port),
                    *(["--key-mode", mode] if mode else []),
                ],
                env=env,
            )
        )
        env[f"PORTAL_{sim.url_setting}"] = f"http://127.0.0.1:{port}{sim.path}"
    return procs


def register_trades(env: Mapping[str, str]) -> int:
    """Tell each running simulator about the payments in the database; returns how many."""
    count = 0
    for sim in SIMS:
        url = env.get(f"PORTAL_{sim.url_setting}")
        if not url:
            continue
        base = url.removesuffix(sim.path)
        _wait_for(base)
        for payment in db.session.scalars(select(Payment).where(Payment.channel == sim.channel)):
            requests.post(
                f"{base}/__sim__/trades",
                json={
                    sim.trade_id_field: payment.gateway_trade_id,
                    "out_trade_no": payment.merchant_trade_no,
                    "total_fen": payment.captured_fen,
                },
                timeout=5,
            ).raise_for_status()
            count += 1
    return count


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(base: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(f"{base}/__sim__/ledger", timeout=1)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
