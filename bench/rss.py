"""Memory of a web worker: the portal under gunicorn next to a hello-world Flask app under
the same gunicorn (same worker class and count), started side by side in one run.

Both run from a fresh production install (``bench.install_size.production_venv``: no test
tools, as a deployment has them), the portal on SQLite and the embedded Redis with the demo
data. Each side serves
``ROUNDS`` rounds of its pages (the portal's: the order lookup, a buyer's order page, the
staff login, the review queue and two cases), then every worker's
resident set (RSS, and USS: the pages no other process shares) is read with psutil.
Goal: the portal worker's RSS <= 2.5 x the hello-world worker's.
``BENCH_WORKERS`` (2) gunicorn sync workers a side, ``BENCH_RSS_ROUNDS`` (10).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GOAL = 2.5
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_RSS_ROUNDS", "10"))
ROOT = Path(__file__).resolve().parent.parent
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_CASE_LINK = re.compile(r'href="(/review/cases/[^"]+)"')


@contextmanager
def gunicorn(
    target: str, port: int, env: dict[str, str], python: str = sys.executable
) -> Iterator[list[int]]:
    """``target`` under gunicorn (``WORKERS`` sync workers) on 127.0.0.1:``port``, run by
    ``python``; yields the workers' process ids once it answers and every worker is up.
    Stopped however it ends."""
    import psutil
    import requests

    proc = subprocess.Popen(
        [
            *(python, "-m", "gunicorn", "-w", str(WORKERS), "-k", "sync"),
            *("-b", f"127.0.0.1:{port}", "--log-level", "warning", "--pythonpath", str(ROOT)),
            target,
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {target} exited with {proc.returncode}")
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=10)
                if len(psutil.Process(proc.pid).children()) == WORKERS:
                    break
            except requests.RequestException:  # not listening yet
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn {target} did not answer")
        yield [child.pid for child in psutil.Process(proc.pid).children()]
    finally:
        proc.terminate()
        proc.wait(10)


def _csrf(html: str) -> str:
    m = _CSRF.search(html)
    if not m:
        raise RuntimeError("no csrf token on the page")
    return m.group(1)


def portal_round(base: str) -> int:
    """One visit of the portal's pages as a buyer and a reviewer would; requests made."""
    import requests

    from portal.dev import demo

    buyer, staff = requests.Session(), requests.Session()
    made = 0

    def get(session: requests.Session, path: str) -> str:
        nonlocal made
        made += 1
        resp = session.get(base + path, timeout=30)
        resp.raise_for_status()
        return resp.text

    def post(session: requests.Session, page: str, path: str, data: dict[str, str]) -> str:
        nonlocal made
        made += 1
        data = {"csrf_token": _csrf(get(session, page)), **data}
        resp = session.post(base + path, data=data, timeout=30)
        resp.raise_for_status()
        return resp.text

    post(
        buyer,
        "/",
        "/lookup",
        {"order_no": "DEMO1001", "contact": demo.CONTACT, "password": demo.QUERY_PASSWORD},
    )
    get(buyer, "/orders/DEMO1001")
    post(
        staff,
        "/staff/login",
        "/staff/login",
        {"username": "reviewer", "password": demo.STAFF_PASSWORD},
    )
    queue = get(staff, "/review/")
    for link in _CASE_LINK.findall(queue)[:2]:
        get(staff, link)
    return made


def hello_round(base: str) -> int:
    """As many requests to the hello-world app as a portal round makes, give or take."""
    import requests

    session = requests.Session()
    for _ in range(8):
        session.get(base + "/", timeout=30).raise_for_status()
    return 8


def memory(pids: list[int]) -> list[tuple[float, float]]:
    """(RSS, USS) in MiB of each process."""
    import psutil

    out = []
    for pid in pids:
        info = psutil.Process(pid).memory_full_info()
        out.append((info.rss / 2**20, info.uss / 2**20))
    return out


def measure() -> dict[str, float]:
    """Serve both apps side by side; the figures of the run."""
    from bench.install_size import production_venv
    from bench.stack import bench_app, free_port

    with production_venv() as prod, bench_app() as (app, tmp):
        from portal.config import DEFAULTS
        from portal.dev import demo

        # the demo's passwords hashed at the production cost: a check then allocates Argon2's
        # whole working memory, as in a production worker (bench_app lowers it for speed)
        for key in ("ARGON2_TIME_COST", "ARGON2_MEMORY_COST"):
            app.config[key] = DEFAULTS[key]
        demo.load()
        from portal.extensions import db

        db.session.commit()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        portal_env = {
            **base_env,
            "PORTAL_SECRET_KEY": "bench",
            "PORTAL_ENVIRONMENT": "development",
            "PORTAL_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "PORTAL_REDIS_URL": app.config["REDIS_URL"],
            "PORTAL_EVIDENCE_DIR": str(tmp / "evidence"),
        }
        hello_port, portal_port = free_port(), free_port()
        with (
            gunicorn("bench.hello:app", hello_port, base_env, str(prod.python)) as hello_pids,
            gunicorn(
                "portal:create_app()", portal_port, portal_env, str(prod.python)
            ) as portal_pids,
        ):
            hello_base = f"http://127.0.0.1:{hello_port}"
            portal_base = f"http://127.0.0.1:{portal_port}"
            requests_made = {"hello": 0, "portal": 0}
            for _ in range(ROUNDS):
                requests_made["hello"] += hello_round(hello_base)
                requests_made["portal"] += portal_round(portal_base)
            hello, portal = memory(hello_pids), memory(portal_pids)
            load = os.getloadavg()
    hello_rss = statistics.mean(r for r, _ in hello)
    portal_rss = statistics.mean(r for r, _ in portal)
    return {
        "hello_rss": hello_rss,
        "portal_rss": portal_rss,
        "hello_uss": statistics.mean(u for _, u in hello),
        "portal_uss": statistics.mean(u for _, u in portal),
        "portal_rss_max": max(r for r, _ in portal),
        "ratio": portal_rss / hello_rss,
        "load1": load[0],
        "load5": load[1],
        "hello_requests": requests_made["hello"],
        "portal_requests": requests_made["portal"],
    }


def main() -> int:
    r = measure()
    print(
        f"web worker memory, gunicorn sync x{WORKERS} each, {ROUNDS} rounds "
        f"({r['hello_requests']} hello requests, {r['portal_requests']} portal requests)"
    )
    print(f"  hello-world worker: RSS {r['hello_rss']:.1f} MiB, USS {r['hello_uss']:.1f} MiB")
    print(
        f"  portal worker:      RSS {r['portal_rss']:.1f} MiB (max {r['portal_rss_max']:.1f}),"
        f" USS {r['portal_uss']:.1f} MiB"
    )
    verdict = "ok" if r["ratio"] <= GOAL else "OVER"
    print(f"  ratio portal/hello RSS: {r['ratio']:.2f} (goal <= {GOAL}: {verdict})")
    print(f"  load average during the run: {r['load1']:.2f} (1 min), {r['load5']:.2f} (5 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
