"""``/healthz`` and ``/readyz``: what a load balancer asks, answered cheaply, never with details.

Each failing dependency is a real one: a PostgreSQL address nobody listens on, a Redis port
that refuses, a Redis that accepts connections and never answers, an evidence folder that is
a file, a database one migration behind.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event, text

from portal import create_app
from portal.extensions import db
from portal.infra.migrations import DIRECTORY, head_revisions, revisions
from tests.conftest import base_config

ALL_OK = "database ok\nredis ok\nstorage ok\nmigrations ok\n"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _forget_redis(app) -> None:
    for key in [k for k in app.extensions if k.startswith("portal.redis")]:
        del app.extensions[key]


def _no_details(body: str) -> None:
    """The body names checks only: no host, port, path, version or error text."""
    for line in body.splitlines():
        name, verdict = line.split(" ")
        assert name in {"database", "redis", "storage", "migrations"} and verdict in {"ok", "fail"}


def test_healthz_answers_without_touching_anything(app, client, monkeypatch):
    checkouts = []
    event.listen(db.engine, "checkout", lambda *args: checkouts.append(args))
    pings = []
    monkeypatch.setattr("redis.Redis.execute_command", lambda *args, **kw: pings.append(args))
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_data(as_text=True) == "ok\n"
    assert r.mimetype == "text/plain"
    assert "Set-Cookie" not in r.headers
    assert checkouts == [] and pings == []
    client.get("/readyz")
    assert checkouts and pings  # the counters see what /readyz does


def test_readyz_is_200_when_everything_answers(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_data(as_text=True) == ALL_OK
    assert "Set-Cookie" not in r.headers


def test_both_answer_machine_text_in_every_language(client):
    for lang in ("zh-CN", "en", ""):
        assert client.get("/healthz", headers={"Accept-Language": lang}).data == b"ok\n"
        assert client.get("/readyz", headers={"Accept-Language": lang}).data == ALL_OK.encode()


def test_both_need_no_login_and_no_csrf(client):
    # POST is not an action here, and no token is asked for: the method is simply not allowed
    assert client.post("/readyz").status_code == 405
    assert client.head("/readyz").status_code == 200
    assert client.head("/healthz").status_code == 200


@pytest.fixture
def unreachable_db_app(tmp_path, redis_url) -> Iterator:
    url = f"postgresql+psycopg://portal:secret@127.0.0.1:{_closed_port()}/nowhere"
    app = create_app(base_config(tmp_path, url, redis_url))
    with app.app_context():
        yield app


def test_readyz_is_503_when_the_database_is_down(unreachable_db_app):
    client = unreachable_db_app.test_client()
    started = time.monotonic()
    r = client.get("/readyz")
    assert time.monotonic() - started < 10
    body = r.get_data(as_text=True)
    assert r.status_code == 503
    assert body == "database fail\nredis ok\nstorage ok\nmigrations fail\n"
    assert "127.0.0.1" not in body and "secret" not in body and "psycopg" not in body
    assert client.get("/healthz").status_code == 200  # alive, though not ready


def test_readyz_does_not_hang_on_a_database_that_never_answers(tmp_path, redis_url):
    # a listening socket nobody reads: the TCP connection opens, PostgreSQL never speaks
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql+psycopg://portal@127.0.0.1:{silent.getsockname()[1]}/portal"
        config = {**base_config(tmp_path, url, redis_url), "DATABASE_CONNECT_TIMEOUT": 2}
        app = create_app(config)
        with app.app_context():
            started = time.monotonic()
            r = app.test_client().get("/readyz")
            elapsed = time.monotonic() - started
    assert r.status_code == 503
    assert r.get_data(as_text=True) == "database fail\nredis ok\nstorage ok\nmigrations fail\n"
    assert elapsed < 10  # libpq's connect_timeout (2 s), not the kernel's TCP timeout


def test_readyz_is_503_when_redis_refuses(app, client):
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{_closed_port()}/0"
    _forget_redis(app)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.get_data(as_text=True) == "database ok\nredis fail\nstorage ok\nmigrations ok\n"


def test_readyz_does_not_hang_on_a_redis_that_never_answers(app, client):
    # a listening socket nobody reads: the connection opens (the kernel's backlog), no reply
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        app.config["REDIS_URL"] = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        app.config["REDIS_SOCKET_TIMEOUT"] = 0.3
        app.config["REDIS_CONNECT_TIMEOUT"] = 0.3
        _forget_redis(app)
        started = time.monotonic()
        r = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert r.status_code == 503
    _no_details(r.get_data(as_text=True))
    assert "redis fail" in r.get_data(as_text=True)
    assert elapsed < 5  # one bounded wait (0.3 s), not redis-py's default retries


def test_readyz_is_503_when_the_evidence_folder_is_not_writable(app, client, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app.config["EVIDENCE_DIR"] = str(blocker / "evidence")
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.get_data(as_text=True) == "database ok\nredis ok\nstorage fail\nmigrations ok\n"


def test_readyz_leaves_nothing_in_the_evidence_folder(app, client, tmp_path):
    folder = tmp_path / "evidence-probe"
    app.config["EVIDENCE_DIR"] = str(folder)
    assert client.get("/readyz").status_code == 200
    assert list(folder.iterdir()) == []


@pytest.fixture
def version_restored(app) -> Iterator[None]:
    """The database's migration version as it was, after a test changed it (on PostgreSQL
    the tests share one database, and the table is no model's: no fixture resets it)."""
    with db.engine.connect() as conn:
        saved = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    yield
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL,"
                " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(text("DELETE FROM alembic_version"))
        for version in saved:
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": version})


def test_readyz_is_503_when_the_migrations_are_behind(app, client, version_restored):
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'x1_notice_channels'"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.get_data(as_text=True) == "database ok\nredis ok\nstorage ok\nmigrations fail\n"


def test_readyz_stays_200_when_a_newer_release_migrated_first(app, client, version_restored):
    # a rolling upgrade: the new release's migration ran; this node still runs the old code
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'z9_from_the_next_release'"))
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_data(as_text=True) == ALL_OK


def test_readyz_is_503_on_a_database_never_migrated(app, client, version_restored):
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.get_data(as_text=True) == "database ok\nredis ok\nstorage ok\nmigrations fail\n"


def test_the_heads_read_from_source_are_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", DIRECTORY)
    assert head_revisions() == frozenset(ScriptDirectory.from_config(config).get_heads())


def test_a_second_head_is_seen(tmp_path):
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text("revision = 'b'\ndown_revision = 'a'\n")
    (versions / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')
    (versions / "m.py").write_text('revision = "m"\ndown_revision = ("b", "c")\n')
    assert head_revisions(str(tmp_path)) == {"m"}
    (versions / "m.py").unlink()
    assert revisions.__wrapped__(str(tmp_path)) == ({"a", "b", "c"}, {"b", "c"})
