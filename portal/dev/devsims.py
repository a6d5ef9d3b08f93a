"""``make run`` only: start the local gateway simulators and tell them about the demo trades.

Each simulator speaks its gateway's real protocol with real signatures, so the demo
refunds end to end with no internet. Simulators keep their ledger in memory; the
demo's trades are registered again at every start.
"""

from __future__ import annotations

import importlib.util
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import select

from portal.dev.demo import HELD_ORDER
from portal.domain.payout_states import PayoutState
from portal.domain.sms_events import SmsEvent
from portal.extensions import db
from portal.models import Order, Payment, Payout, RefundCase
from portal.plugins import sms_simulation


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


@dataclass(frozen=True)
class SmsSim:
    """An SMS provider's simulator and the settings that point its notifier at it."""

    plugin: str
    module: str
    prefix: str
    settings: Mapping[str, str]  # besides the endpoint, the secret, Redis and the templates
    secret_setting: str
    template: str  # the demo's template id, with {n} for the event's number


SMS_SIMS = (
    SmsSim(
        "sms_aliyun",
        "refund_portal_sms_aliyun.simulator",
        "SMS_ALIYUN",
        {
            "SMS_ALIYUN_ACCESS_KEY_ID": "LTAI-sim",
            "SMS_ALIYUN_SIGN_NAME": "退款门户演示",
            "SMS_ALIYUN_DAILY_CAP": "50",  # one demo buyer has every order
        },
        "SMS_ALIYUN_SECRET",
        "SMS_90000{n}",
    ),
    SmsSim(
        "sms_tencent",
        "refund_portal_sms_tencent.simulator",
        "SMS_TENCENT",
        {
            "SMS_TENCENT_SECRET_ID": "AKIDsim",
            "SMS_TENCENT_SDK_APP_ID": "1400006666",
            "SMS_TENCENT_SIGN_NAME": "退款门户演示",
        },
        "SMS_TENCENT_SECRET_KEY",
        "100000{n}",
    ),
)
#: the one SMS simulator the demo's buyer notices go through (the other one runs unused)
DEMO_SMS = "sms_aliyun"


def start_sms_simulators(env: MutableMapping[str, str]) -> list[subprocess.Popen]:
    """Start each installed SMS provider's simulator on a free port, printing every SMS it
    accepts to this terminal; point the ``DEMO_SMS`` notifier at its simulator (unless the
    operator configured that notifier already). ``env`` needs ``PORTAL_REDIS_URL``."""

    procs = []
    for sim in SMS_SIMS:
        if importlib.util.find_spec(sim.module.split(".")[0]) is None:
            continue
        port, secret = free_port(), secrets.token_hex(16)
        child_env = {**env, sms_simulation.SECRET_ENV: secret}
        procs.append(
            subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                [sys.executable, "-m", sim.module, "--port", str(port)], env=child_env
            )
        )
        endpoint = f"http://127.0.0.1:{port}/"
        env[f"PORTAL_DEMO_{sim.prefix}_URL"] = endpoint
        if sim.plugin != DEMO_SMS or any(k.startswith(f"PORTAL_{sim.prefix}_") for k in env):
            continue
        env.update({f"PORTAL_{k}": v for k, v in sim.settings.items()})
        env[f"PORTAL_{sim.secret_setting}"] = secret
        env[f"PORTAL_{sim.prefix}_ENDPOINT"] = endpoint
        env[f"PORTAL_{sim.prefix}_REDIS_URL"] = env["PORTAL_REDIS_URL"]
        for n, event in enumerate(SmsEvent, start=1):
            env[f"PORTAL_{sim.prefix}_TEMPLATE_{event.upper()}"] = sim.template.format(n=n)
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


def hold_demo_refund(env: Mapping[str, str]) -> bool:
    """Have the WeChat simulator hold the demo order DEMO1012's refund (ABNORMAL, as for a
    closed card) when that payout has not reached the gateway yet; True if it will.

    The simulator holds the next new refund it receives: the worker sends this payout
    first, before the web server takes any buyer's application. The simulator's ledger
    lives in memory, so the held refund can be sent on in the run that created it.
    """
    url = env.get("PORTAL_WECHAT_GATEWAY_URL")
    if not url:
        return False
    payout = db.session.scalar(
        select(Payout)
        .join(RefundCase, Payout.case_id == RefundCase.id)
        .join(Order, RefundCase.order_id == Order.id)
        .where(Order.order_no == HELD_ORDER, Payout.channel == "wechat")
    )
    if payout is None or payout.state != PayoutState.CREATED or payout.attempts:
        return False
    _wait_for(url)
    requests.post(
        f"{url}/__sim__/misbehave", json={"mode": "abnormal", "times": 1}, timeout=5
    ).raise_for_status()
    return True


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
