"""Sessions an attacker cannot forge or keep: the secret key, revocation, timeouts.

Hostile cases first: a cookie signed with the published key, a copy of a cookie kept after
logout, after "sign out everywhere" and after a password change, and sessions outliving their
idle and absolute timeouts (the test clock moves; nothing sleeps).
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from portal import create_app
from portal.config import MAKE_A_KEY, PUBLISHED_SECRET_KEY, ConfigError
from portal.extensions import db
from portal.models import User
from tests import factories as f
from tests.conftest import Browser, FreshGClient, base_config

DOMAIN = "portal.test"
STRONG_KEY = "k" * 20 + "J8vQ2mXw7LpR4tZs9NbC1yHd"


def login(browser: Browser, username: str) -> int:
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )
    return r.status_code


def cookie_of(browser: Browser) -> str:
    c = browser.client.get_cookie("session", domain=DOMAIN)
    assert c is not None
    return c.value


def other_device(app: Flask, cookie: str) -> Browser:
    app.test_client_class = FreshGClient
    client = app.test_client()
    client.set_cookie("session", cookie, domain=DOMAIN)
    return Browser(client)


def signed_with(key: str, data: dict) -> str:
    signer = Flask("forger")
    signer.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    assert serializer is not None
    return serializer.dumps(data)


# -- the secret key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [None, "", "   ", PUBLISHED_SECRET_KEY, "short-key", "x" * 31],
    ids=["missing", "empty", "blank", "published", "short", "31-chars"],
)
def test_production_refuses_to_start_without_a_real_key(tmp_path, template_db, redis_url, key):
    cfg = {**base_config(tmp_path, template_db, redis_url), "TESTING": False}
    cfg["SECRET_KEY"] = key
    with pytest.raises(ConfigError) as err:
        create_app(cfg)
    assert MAKE_A_KEY in str(err.value)
    assert "PORTAL_SECRET_KEY" in str(err.value)


def test_production_is_the_default_environment(tmp_path, template_db, redis_url):
    cfg = base_config(tmp_path, template_db, redis_url)
    del cfg["TESTING"], cfg["SECRET_KEY"]  # what a fresh checkout gives: the published key
    with pytest.raises(ConfigError):
        create_app(cfg)


def test_production_starts_with_a_real_key_and_secure_cookies(tmp_path, template_db, redis_url):
    cfg = {**base_config(tmp_path, template_db, redis_url), "TESTING": False}
    cfg["SECRET_KEY"] = STRONG_KEY
    app = create_app(cfg)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_development_may_use_the_published_key(tmp_path, template_db, redis_url):
    cfg = {**base_config(tmp_path, template_db, redis_url), "TESTING": False}
    cfg.update(SECRET_KEY=PUBLISHED_SECRET_KEY, ENVIRONMENT="development")
    app = create_app(cfg)
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_cookie_forged_with_the_published_key_is_refused(app, client, clock):
    boss = f.staff("boss", role="supervisor")
    now = int(clock().timestamp())
    claims = {
        "_user_id": str(boss.id),
        "_fresh": True,
        "staff_epoch": 0,
        "staff_login_at": now,
        "staff_seen_at": now,
        "orders": [[1, now]],
    }
    # the control: the same claims signed with the app's own key are a session
    real = other_device(app, signed_with(app.config["SECRET_KEY"], claims))
    assert real.get("/staff/users").status_code == 200
    forged = other_device(app, signed_with(PUBLISHED_SECRET_KEY, claims))
    r = forged.get("/staff/users")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


# -- revocation ----------------------------------------------------------------------------


def test_a_copied_cookie_stops_working_after_logout(app, browser, clock):
    f.staff("rev1")
    assert login(browser, "rev1") == 303
    copy = other_device(app, cookie_of(browser))
    assert copy.get("/review/").status_code == 200
    r = browser.submit("/review/", "/staff/logout", {})
    assert r.status_code == 303
    assert browser.get("/review/").status_code == 302
    r = copy.get("/review/")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


def test_supervisor_signs_a_login_out_everywhere_without_javascript(app, browser, clock):
    rev = f.staff("rev1")
    f.staff("boss", role="supervisor")
    laptop = other_device(app, "")
    assert login(laptop, "rev1") == 303
    assert laptop.get("/review/").status_code == 200
    assert login(browser, "boss") == 303
    page = browser.get("/staff/users").get_data(as_text=True)
    action = f"/staff/users/{rev.id}/sign-out"
    assert f'action="{action}"' in page and 'method="post"' in page
    r = browser.submit("/staff/users", action, {})
    assert r.status_code == 303
    assert laptop.get("/review/").status_code == 302
    assert browser.get("/staff/users").status_code == 200  # the supervisor stays in
    assert login(laptop, "rev1") == 303  # a new login works


def test_only_supervisors_sign_others_out(app, browser, clock):
    boss = f.staff("boss", role="supervisor")
    f.staff("rev1")
    assert login(browser, "rev1") == 303
    assert browser.get("/staff/users").status_code == 403
    page = browser.get("/review/")
    assert page.status_code == 200
    from tests.conftest import csrf_from

    token = csrf_from(page.get_data(as_text=True))
    r = browser.client.post(f"/staff/users/{boss.id}/sign-out", data={"csrf_token": token})
    assert r.status_code == 403
    assert db.session.get(User, boss.id).session_epoch == 0


def test_password_change_ends_the_other_sessions(app, browser, clock):
    f.staff("rev1")
    phone = other_device(app, "")
    assert login(phone, "rev1") == 303
    assert login(browser, "rev1") == 303
    r = browser.submit(
        "/staff/account",
        "/staff/account",
        {"current": "wrong-password", "new": "a-new-password-1"},
    )
    assert r.status_code == 422
    assert phone.get("/review/").status_code == 200
    r = browser.submit(
        "/staff/account",
        "/staff/account",
        {"current": "password-123", "new": "a-new-password-1"},
    )
    assert r.status_code == 303
    assert browser.get("/review/").status_code == 200  # this browser stays in
    assert phone.get("/review/").status_code == 302
    assert login(phone, "rev1") == 422  # the old password is gone


# -- timeouts --------------------------------------------------------------------------------


def test_staff_idle_timeout(app, browser, clock):
    app.config.update(STAFF_IDLE_MINUTES=30, STAFF_ABSOLUTE_HOURS=12)
    f.staff("rev1")
    assert login(browser, "rev1") == 303
    clock.advance(minutes=29)
    assert browser.get("/review/").status_code == 200
    clock.advance(minutes=29)  # 58 minutes after the login, 29 after the last request
    assert browser.get("/review/").status_code == 200
    clock.advance(minutes=31)
    r = browser.get("/review/")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]
    clock.advance(seconds=1)
    assert browser.get("/review/").status_code == 302  # and it does not come back


def test_staff_absolute_timeout_even_when_busy(app, browser, clock):
    app.config.update(STAFF_IDLE_MINUTES=30, STAFF_ABSOLUTE_HOURS=12)
    f.staff("rev1")
    assert login(browser, "rev1") == 303
    for _ in range(12 * 3 - 1):  # a request every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert browser.get("/review/").status_code == 200
    clock.advance(minutes=20)
    assert browser.get("/review/").status_code == 302


def test_buyer_access_to_an_order_expires(app, browser, clock):
    app.config["BUYER_ACCESS_MINUTES"] = 120
    order = f.order(clock())
    r = browser.submit(
        "/", "/lookup", {"order_no": order.order_no, "contact": f.CONTACT, "password": f.PASSWORD}
    )
    assert r.status_code == 303
    copy = other_device(app, cookie_of(browser))
    clock.advance(minutes=119)
    assert browser.get(f"/orders/{order.order_no}").status_code == 200
    clock.advance(minutes=2)
    for who in (browser, copy):
        r = who.get(f"/orders/{order.order_no}")
        assert r.status_code == 303 and r.headers["Location"].endswith("/")


def test_buyer_cookie_with_old_or_forged_shapes_grants_nothing(app, client, clock):
    order = f.order(clock())
    db.session.commit()
    now = int(clock().timestamp())
    for orders in (
        [order.id],  # the shape before expiry existed
        [[order.id, now + 3600]],  # granted in the future
        [[order.id, "now"]],
        [[True, now]],
        {"x": 1},
    ):
        b = other_device(
            client.application, signed_with(client.application.secret_key, {"orders": orders})
        )
        assert b.get(f"/orders/{order.order_no}").status_code == 303, orders


def test_operator_commands_end_sessions(app, browser, clock):
    f.staff("rev1")
    assert login(browser, "rev1") == 303
    runner = app.test_cli_runner()
    r = runner.invoke(args=["sign-out", "rev1"])
    assert r.exit_code == 0, r.output
    assert browser.get("/review/").status_code == 302
    assert login(browser, "rev1") == 303
    r = runner.invoke(args=["set-password", "rev1"], input="a-new-password-2\na-new-password-2\n")
    assert r.exit_code == 0, r.output
    assert browser.get("/review/").status_code == 302
    assert login(browser, "rev1") == 422
    r = runner.invoke(args=["sign-out", "nobody"])
    assert r.exit_code != 0 and "no staff login" in r.output


def test_hsts_only_over_https(app, client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    r = client.get("/", base_url="https://portal.test")
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    app.config["HSTS_SECONDS"] = 0
    assert (
        "Strict-Transport-Security" not in client.get("/", base_url="https://portal.test").headers
    )
