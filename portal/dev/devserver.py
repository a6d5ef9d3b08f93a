"""``make run``: database, demo data, embedded Redis, gateway simulators, an RQ worker and
the web server, all in the foreground. Ctrl-C (or SIGTERM) stops all of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from werkzeug.serving import run_simple

from portal import create_app
from portal.dev.demo import (
    CONTACT,
    HELD_ORDER,
    ORDERS,
    QUERY_PASSWORD,
    STAFF,
    STAFF_PASSWORD,
    load,
)
from portal.dev.devsims import (
    DEMO_SMS,
    hold_demo_refund,
    register_trades,
    start_simulators,
    start_sms_simulators,
)
from portal.infra.embedded import start_embedded_redis, stop_embedded_redis
from portal.infra.migrations import upgrade


def run(host: str, port: int) -> None:
    """Start the whole demo stack in the foreground."""
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (nohup, &)
    # the demo stack: the published secret key and plain-HTTP cookies are allowed here only
    os.environ.setdefault("PORTAL_ENVIRONMENT", "development")
    instance = Path(create_app().instance_path)
    env = os.environ
    if not env.get("PORTAL_REDIS_URL"):
        env["PORTAL_REDIS_URL"] = start_embedded_redis(str(instance))
    children = start_simulators(instance / "devkeys", env)
    children += start_sms_simulators(env)
    env.setdefault("PORTAL_PUBLIC_BASE_URL", f"http://{host}:{port}")
    # the demo's shops receive webhooks on this machine (never set this in production)
    env.setdefault("PORTAL_WEBHOOKS_ALLOW_LOCAL", "true")
    try:
        app = create_app()
        with app.app_context():
            upgrade()
            load()
            trades = register_trades(env)
            held = hold_demo_refund(env)
        children.append(subprocess.Popen([sys.executable, "-m", "portal.cli", "worker"], env=env))
        channels = ", ".join(app.extensions["portal.plugins.channels"].ids())
        print(f"\n  refund-portal is running at http://{host}:{port}/")
        print(
            f"  demo orders DEMO1001..{ORDERS[-1].no}, contact {CONTACT}, "
            f"query password {QUERY_PASSWORD}"
        )
        print(f"  staff logins (password {STAFF_PASSWORD}): " + ", ".join(s[0] for s in STAFF))
        print(f"  payout channels: {channels}; {trades} demo trades on the gateway simulators")
        for setting in sorted(k for k in env if k.endswith("_GATEWAY_URL")):
            print(f"  {setting.removeprefix('PORTAL_')} = {env[setting]}")
        for setting in sorted(k for k in env if k.startswith("PORTAL_DEMO_SMS_")):
            print(f"  {setting.removeprefix('PORTAL_DEMO_')} = {env[setting]}")
        print(
            f"  SMS to buyers go through the {DEMO_SMS} simulator: each one is printed here,"
            f" lines starting [{DEMO_SMS} simulator]"
        )
        if held:
            print(
                f"  {HELD_ORDER}: WeChat Pay holds its refund (ABNORMAL); send it on from"
                " /review/payouts/"
            )
        print(
            "  bank refunds settle when a statement is imported: `make demo-bank-statement`\n"
            f"  started in {time.monotonic() - started:.1f} s; Ctrl-C stops everything\n",
            flush=True,
        )
        run_simple(host, port, app, use_reloader=False, threaded=True)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(children)
        stop_embedded_redis()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM every child (RQ finishes its job first), then SIGKILL what is left after grace."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
