"""A real deployment shape for race tests: PostgreSQL, gunicorn with several worker processes,
and clients that speak HTTP to it the way a browser and a shop's server do.

* ``postgres_database``: the suite's own PostgreSQL database when ``PORTAL_DATABASE_URL``
  names one (the second pass of ``.ci/run``), else a database of its own on 127.0.0.1:5432,
  created and dropped here; a reason to skip when no PostgreSQL answers there.
* ``gunicorn``: ``tests.gunicorn_app:create()`` under gunicorn's sync workers on a free port.
* ``all_at_once``: requests released together by a barrier, one thread each.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import requests
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

from tests.live import wait_for

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_unreachable(url: URL) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used (the skip reason), or None."""
    host, port = url.host or "127.0.0.1", url.port or 5432
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        return (
            f"PostgreSQL is not reachable at {host}:{port} ({exc}); these tests run the races "
            "under gunicorn against PostgreSQL: start it there or set PORTAL_DATABASE_URL"
        )
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any refusal is a reason to skip, reported as is
        return f"PostgreSQL at {host}:{port} refused the connection: {exc}"
    return None


@contextmanager
def own_database(server_url: str, name: str) -> Iterator[str]:
    """Create the database ``name`` on the server of ``server_url``; drop it afterwards."""
    server = make_url(server_url)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(env: dict[str, str], workers: int, log: Path) -> Iterator[str]:
    """The test app under gunicorn with ``workers`` sync workers; yields its base URL once
    every worker has started. Stopped (and its workers with it) however the test ends."""
    import psutil

    port = free_port()
    out = open(log, "ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "--chdir",
            str(REPO),
            "tests.gunicorn_app:create()",
        ],
        env=env,
        stdout=out,
        stderr=out,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}: see {log}")
        try:
            requests.get(base + "/", timeout=5)
        except requests.RequestException:
            return False
        return len(psutil.Process(proc.pid).children()) == workers

    try:
        wait_for(ready, 60, f"gunicorn answering with {workers} workers", interval=0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)
        out.close()


def gunicorn_env(database_url: str, redis_url: str, evidence: Path) -> dict[str, str]:
    """The environment of the gunicorn process: only what ``tests.gunicorn_app`` reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_REDIS_URL": redis_url,
            "PORTAL_SECRET_KEY": "gunicorn-race-tests-" + "k" * 40,
            "PORTAL_EVIDENCE_DIR": str(evidence),
        }
    )
    return env


class _Forms(HTMLParser):
    """Every form of a page: its action and the values of its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][1][a["name"]] = a.get("value", "")


def form(html: str, action_ends: str, page: str = "") -> tuple[str, dict[str, str]]:
    """The action and the input values (hidden CSRF token included) of the page's form whose
    action ends with ``action_ends`` (a form with no action posts to ``page`` itself)."""
    parser = _Forms()
    parser.feed(html)
    for action, fields in parser.forms:
        action = action or page
        if action.split("?")[0].endswith(action_ends):
            return action, fields
    raise AssertionError(f"no form posting to …{action_ends} on the page")


class Visitor:
    """A browser: its own cookies, English pages, no redirects followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = "en"

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=60)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.http.post(self.base + path, data=data, allow_redirects=False, timeout=60)

    def submit(self, page: str, action_ends: str, data: dict[str, str]) -> requests.Response:
        """Open ``page`` and send its form, as a person would."""
        return self.post(*self.prepare(page, action_ends, data))

    def prepare(
        self, page: str, action_ends: str, data: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        """Open ``page`` now and fill its form; the post is sent later (by ``all_at_once``)."""
        r = self.get(page)
        assert r.status_code == 200, (page, r.status_code)
        action, fields = form(r.text, action_ends, page)
        return action, {**fields, **data}

    def tab(self) -> Visitor:
        """Another tab of this browser: the same cookies, its own connection."""
        other = Visitor(self.base)
        other.http.cookies.update(self.http.cookies)
        return other


class HttpClient:
    """What ``tests.api_helpers.Shop`` posts through, over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, data: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.base + path, data=data, headers=headers, timeout=60)

    def get(self, path: str, headers: dict[str, str]) -> requests.Response:
        return requests.get(self.base + path, headers=headers, timeout=60)


class DeferredHttp(HttpClient):
    """Signs now, sends later: ``Shop(DeferredHttp(base), key).post(...)`` returns the call
    that sends the request (for ``all_at_once``), its signature made with the app's clock."""

    def post(  # type: ignore[override]
        self, path: str, data: bytes, headers: dict[str, str]
    ) -> Callable[[], requests.Response]:
        return lambda: HttpClient.post(self, path, data, headers)


def all_at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call in its own thread, released together; the answers in the same order."""
    barrier = threading.Barrier(len(calls))
    answers: list[requests.Response | BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(30)
            answers[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - reported below with the others
            answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    failed = [a for a in answers if not isinstance(a, requests.Response)]
    assert not failed, failed
    return answers  # type: ignore[return-value]
