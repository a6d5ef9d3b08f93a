"""``make run``: database, demo data, embedded Redis, an RQ worker and the web server.

Everything it starts stops on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from werkzeug.serving import run_simple


def run(host: str, port: int) -> None:
    """Start the whole demo stack in the foreground."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.demo import CONTACT, QUERY_PASSWORD, STAFF, STAFF_PASSWORD, load
    from portal.embedded import start_embedded_redis, stop_embedded_redis

    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    app = create_app()
    env = dict(os.environ)
    if not app.config.get("REDIS_URL"):
        url = start_embedded_redis(app.instance_path)
        env["PORTAL_REDIS_URL"] = url
        app.config["REDIS_URL"] = url
    with app.app_context():
        upgrade()
        load()
    children = [
        subprocess.Popen([sys.executable, "-m", "portal.cli", "worker"], env=env),
    ]
    print(f"\n  refund-portal is running at http://{host}:{port}/")
    print(f"  demo orders DEMO1001..DEMO1011, contact {CONTACT}, query password {QUERY_PASSWORD}")
    print("  staff logins (password " + STAFF_PASSWORD + "): " + ", ".join(s[0] for s in STAFF))
    print(f"  started in {time.monotonic() - started:.1f} s; Ctrl-C stops everything\n", flush=True)
    try:
        run_simple(host, port, app, use_reloader=False, threaded=True)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        stop_embedded_redis()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
