"""Test fixtures: a migrated database (SQLite by default, PostgreSQL when PORTAL_DATABASE_URL
is set), Redis (embedded unless PORTAL_REDIS_URL is set), a controllable clock, clients."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.extensions import db
from portal.plugins.manager import make_plugin_manager
from tests.fakes import FakeGateway, FakePlugin


def _own_services_per_xdist_worker() -> None:
    """Under pytest-xdist (``make test`` runs four), each worker process gets its own
    PostgreSQL database (``<name>_gw0``, made here) and its own Redis database number (the
    given one plus the worker's index), set in the environment so that the servers and
    workers the tests start use them too. SQLite tests copy a per-test file and the
    embedded Redis is per process: nothing to do for them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    index = int(worker.removeprefix("gw"))
    if pg := os.environ.get("PORTAL_DATABASE_URL"):
        from sqlalchemy import create_engine, make_url, text

        url = make_url(pg)
        name = f"{url.database}_{worker}"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        os.environ["PORTAL_DATABASE_URL"] = url.set(database=name).render_as_string(
            hide_password=False
        )
    if redis := os.environ.get("PORTAL_REDIS_URL"):
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(redis)
        number = int(parts.path.strip("/") or 0) + index
        if number > 15:
            raise RuntimeError(f"{redis}: xdist worker {worker} would need Redis db {number}")
        os.environ["PORTAL_REDIS_URL"] = urlunsplit(parts._replace(path=f"/{number}"))


_own_services_per_xdist_worker()
PG_URL = os.environ.get("PORTAL_DATABASE_URL")
REDIS_URL = os.environ.get("PORTAL_REDIS_URL")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when


def base_config(tmp: Path, db_url: str, redis_url: str, gateway: FakeGateway | None = None) -> dict:
    pm = make_plugin_manager()
    pm.register(FakePlugin(gateway or FakeGateway()), name="fakepay")
    return {
        "PLUGIN_MANAGER": pm,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        # the audit trail's seal key for tests (not the instance folder's made-once key)
        "AUDIT_SEAL_KEY": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "EVIDENCE_DIR": str(tmp / "evidence"),
        "LOOKUP_RATE_LIMIT": "1000 per minute",
        "SERVER_NAME": "portal.test",
        # tests move the clock by days between steps; the timeouts have their own tests
        # (tests/test_sessions.py), which set them back
        "STAFF_IDLE_MINUTES": 10 * 365 * 24 * 60,
        "STAFF_ABSOLUTE_HOURS": 10 * 365 * 24,
        "BUYER_ACCESS_MINUTES": 10 * 365 * 24 * 60,
    }


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS_URL:
        yield REDIS_URL
        return
    from portal.infra.embedded import start_embedded_redis, stop_embedded_redis

    yield start_embedded_redis(str(tmp_path_factory.mktemp("redis")))
    stop_embedded_redis()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> str:
    """Run the migrations once per session; SQLite tests copy the result."""
    tmp = tmp_path_factory.mktemp("template")
    url = PG_URL or f"sqlite:///{tmp}/template.sqlite3"
    app = create_app(base_config(tmp, url, redis_url))
    with app.app_context():
        from portal.infra.migrations import upgrade

        if PG_URL:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def clock() -> Clock:
    # a Tuesday morning in Beijing, away from holidays
    return Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def app(
    tmp_path: Path, template_db: str, redis_url: str, clock: Clock, gateway: FakeGateway
) -> Iterator[Flask]:
    if PG_URL:
        url = template_db
    else:
        src = template_db.removeprefix("sqlite:///")
        dst = tmp_path / "portal.sqlite3"
        shutil.copy(src, dst)
        url = f"sqlite:///{dst}"
    app = create_app(base_config(tmp_path, url, redis_url, gateway))
    app.extensions["portal.clock"] = clock
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    with app.app_context():
        if PG_URL:
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        yield app
        db.session.remove()
        db.engine.dispose()


class FreshGClient(FlaskClient):
    """Each request gets an empty ``g``, as it would with its own app context.

    The tests hold one app context open (to use the database between requests);
    Flask reuses it for requests, so caches kept on ``g`` (locale, logged-in user,
    rate-limit state) would otherwise leak from one request to the next.
    """

    def open(self, *args, **kwargs):
        from flask import g

        for key in list(vars(g)):
            delattr(g, key)
        # tests read English messages unless they ask for another language (buyers get zh-CN)
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Accept-Language", "en")
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = FreshGClient
    return app.test_client()


_CSRF = re.compile(
    r'name="[\w-]*csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_from(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no csrf token on the page"
    return m.group(1) or m.group(2)


class Browser:
    """A Flask test client that posts forms the way a browser does (with the page's token)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def submit(self, page_url: str, action: str, data: dict, htmx: bool = False, **kw):
        page = self.client.get(page_url)
        assert page.status_code == 200, page.status_code
        data = {"csrf_token": csrf_from(page.get_data(as_text=True)), **data}
        headers = {"HX-Request": "true", "HX-Current-URL": page_url} if htmx else {}
        return self.client.post(action, data=data, headers=headers, **kw)


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)
