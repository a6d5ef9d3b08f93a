"""Guessing limits that never lock out the owner: only failures count; a stranger's failures
on an order (or a staff login) slow wrong answers but the right answer always gets in; the
429 says, in the visitor's language, how long to wait. Clients differ by address
(``REMOTE_ADDR``); the test clock moves, nothing sleeps."""

from __future__ import annotations

import json
import re

import pytest

from tests import factories as f
from tests.conftest import Browser, FreshGClient, csrf_from


def client_at(app, address: str) -> Browser:
    app.test_client_class = FreshGClient
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Browser(client)


def lookup(b: Browser, order_no: str, password: str, lang: str = "en", htmx: bool = False):
    page = b.get("/", headers={"Accept-Language": lang})
    headers = {"Accept-Language": lang}
    if htmx:
        headers.update({"HX-Request": "true", "HX-Boosted": "true", "HX-Current-URL": "/"})
    data = {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "order_no": order_no,
        "contact": f.CONTACT,
        "password": password,
    }
    return b.client.post("/lookup", data=data, headers=headers)


def login(b: Browser, username: str, password: str, lang: str = "en"):
    page = b.get("/staff/login", headers={"Accept-Language": lang})
    data = {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "username": username,
        "password": password,
    }
    return b.client.post("/staff/login", data=data, headers={"Accept-Language": lang})


@pytest.fixture
def limits(app):
    app.config.update(
        LOOKUP_RATE_LIMIT="3 per minute;10 per hour",
        LOGIN_RATE_LIMIT="3 per minute;10 per hour",
        FAILURES_BEFORE_DELAY=2,
        FAILURE_DELAY_MAX_SECONDS=600,
    )


def test_correct_lookups_are_not_counted(app, clock, limits):
    order = f.order(clock())
    b = client_at(app, "10.0.0.1")
    for _ in range(12):  # more than both address limits
        assert lookup(b, order.order_no, f.PASSWORD).status_code == 303


def test_an_address_over_its_failure_limit_waits_and_is_told_how_long(app, clock, limits):
    order = f.order(clock())
    b = client_at(app, "10.0.0.2")
    assert [lookup(b, "NOPE-1", "x").status_code for _ in range(3)] == [422] * 3
    r = lookup(b, "NOPE-1", "x")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "Try again in 1 min" in r.get_data(as_text=True)
    # zh-CN, the buyers' default, says it in Chinese, with no English left
    r = lookup(b, "NOPE-1", "x", lang="zh-CN")
    body = r.get_data(as_text=True)
    assert r.status_code == 429 and "失败尝试过多" in body and "分钟" in body
    assert "Too many" not in body
    # the refusal comes before the password is checked: even the right one waits here
    assert lookup(b, order.order_no, f.PASSWORD).status_code == 429
    # another address is not affected, and the window ends
    assert lookup(client_at(app, "10.0.0.3"), order.order_no, f.PASSWORD).status_code == 303
    clock.advance(seconds=61)
    assert lookup(b, order.order_no, f.PASSWORD).status_code == 303


def test_strangers_cannot_lock_the_owner_out_of_an_order(app, clock, limits):
    order = f.order(clock())
    waits = []
    for i in range(6):  # six strangers, each under its own address limit
        r = lookup(client_at(app, f"10.1.0.{i}"), order.order_no, "guess")
        waits.append((r.status_code, int(r.headers.get("Retry-After", 0))))
    assert [s for s, _ in waits[:3]] == [422, 422, 422]
    assert all(s == 429 for s, _ in waits[3:])
    delays = [w for _, w in waits[3:]]
    assert delays == sorted(delays) and delays[-1] > delays[0]  # the delay grows
    r = lookup(client_at(app, "10.1.1.1"), order.order_no, "guess", lang="zh-CN")
    assert r.status_code == 429 and "该订单最近输错次数过多" in r.get_data(as_text=True)
    # the owner, from anywhere, with the right answer: straight in
    assert lookup(client_at(app, "10.9.9.9"), order.order_no, f.PASSWORD).status_code == 303


def test_the_htmx_answer_to_a_throttled_lookup_says_how_long(app, clock, limits):
    b = client_at(app, "10.0.0.4")
    for _ in range(3):
        lookup(b, "NOPE-2", "x")
    r = lookup(b, "NOPE-2", "x", lang="zh-CN", htmx=True)
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert "失败尝试过多" in r.get_data(as_text=True)


def test_htmx_swaps_the_answers_that_carry_a_message(app, client):
    """htmx drops 4xx/5xx answers unless told to swap them: read the page's htmx-config and
    apply its rules as htmx does (first matching rule wins) to each status we answer with."""
    head = client.get("/").get_data(as_text=True)
    found = re.search(r"<meta name=\"htmx-config\"\s+content='([^']*)'", head)
    assert found, "no htmx-config on the page"
    rules = json.loads(found[1])["responseHandling"]

    def swapped(status: int) -> bool:
        for rule in rules:
            if re.match(rule["code"], str(status)):
                return bool(rule.get("swap"))
        return False

    for status in (400, 403, 404, 409, 413, 422, 429, 503):
        assert swapped(status), status
    assert not swapped(204) and swapped(200)


def test_staff_login_failures_limit_per_address_only(app, clock, limits):
    f.staff("rev1")
    attacker = client_at(app, "10.2.0.1")
    codes = [login(attacker, "rev1", "wrong").status_code for _ in range(4)]
    assert codes[:2] == [422, 422] and codes[3] == 429
    r = login(attacker, "rev1", "wrong", lang="zh-CN")
    assert r.status_code == 429 and "分钟" in r.get_data(as_text=True)
    for i in range(4):  # more strangers make the username's delay grow
        assert login(client_at(app, f"10.2.1.{i}"), "rev1", "wrong").status_code == 429
    owner = client_at(app, "10.2.9.9")
    r = login(owner, "rev1", "password-123")
    assert r.status_code == 303 and r.headers["Location"] == "/review/"


def test_correct_logins_are_not_counted(app, clock, limits):
    f.staff("rev1")
    b = client_at(app, "10.3.0.1")
    for _ in range(12):
        assert login(b, "rev1", "password-123").status_code == 303
        b.submit("/review/", "/staff/logout", {})


def test_behind_a_trusted_proxy_clients_are_told_apart(tmp_path, template_db, redis_url, clock):
    """Behind one TLS proxy (TRUSTED_PROXY_HOPS=1) the limit is per client, not per proxy."""
    import shutil

    from redis import Redis

    from portal import create_app
    from tests.conftest import base_config

    db_file = tmp_path / "p.sqlite3"
    if template_db.startswith("sqlite:///"):
        shutil.copy(template_db.removeprefix("sqlite:///"), db_file)
        url = f"sqlite:///{db_file}"
    else:
        url = template_db
    cfg = {**base_config(tmp_path, url, redis_url), "TRUSTED_PROXY_HOPS": 1}
    cfg.update(LOOKUP_RATE_LIMIT="2 per minute", FAILURES_BEFORE_DELAY=100)
    app = create_app(cfg)
    app.extensions["portal.clock"] = clock
    Redis.from_url(redis_url).flushdb()
    app.test_client_class = FreshGClient
    with app.app_context():
        c = app.test_client()

        def post(client_ip: str) -> int:
            token = csrf_from(c.get("/").get_data(as_text=True))
            data = {"csrf_token": token, "order_no": "N", "contact": "c", "password": "p"}
            fwd = {"X-Forwarded-For": client_ip}
            return c.post("/lookup", data=data, headers=fwd).status_code

        assert [post("203.0.113.7") for _ in range(3)] == [422, 422, 429]
        assert post("198.51.100.9") == 422  # another client behind the same proxy


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10",
        "ten per minute",
        "10 per fortnight",
        "10 per 0 minutes",
        "10 per minute;",
        "-1/hour",
    ],
)
def test_a_limit_that_does_not_parse_is_refused(text):
    from portal.infra.throttle import parse_limits

    with pytest.raises(ValueError, match="not a rate limit"):
        parse_limits(text)


def test_limits_parse_as_documented():
    from portal.infra.throttle import parse_limits

    assert parse_limits("10 per minute;50 per hour") == [(10, 60), (50, 3600)]
    assert parse_limits("3/second, 100 per 2 hours | 5 per Day") == [
        (3, 1),
        (100, 7200),
        (5, 86400),
    ]
