"""The failure throttles as the web sees them: which one, the client's address, the 429 answer."""

from __future__ import annotations

import math

from flask import current_app, request
from redis import Redis

from portal.infra.i18n import gettext
from portal.infra.queue import redis_connection
from portal.infra.throttle import FailureThrottle, ThrottleRules
from portal.services import context


def _throttle(kind: str, limits_setting: str) -> FailureThrottle:
    key = f"portal.throttle.{kind}"
    found = current_app.extensions.get(key)
    if found is None:
        cfg = current_app.config
        rules = ThrottleRules(
            address_limits=str(cfg[limits_setting]),
            free_failures=int(cfg["FAILURES_BEFORE_DELAY"]),
            max_delay_seconds=int(cfg["FAILURE_DELAY_MAX_SECONDS"]),
        )
        # current_app is typed as the Flask it stands for, not as the proxy it is
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def connect() -> Redis:
            with app.app_context():
                return redis_connection()

        found = FailureThrottle(kind, connect, rules)
        current_app.extensions[key] = found
    return found


def lookups() -> FailureThrottle:
    """Failed order lookups (per address, and per order number)."""
    return _throttle("lookup", "LOOKUP_RATE_LIMIT")


def logins() -> FailureThrottle:
    """Failed staff logins (per address, and per username)."""
    return _throttle("login", "LOGIN_RATE_LIMIT")


def client_address() -> str:
    """The client's address (behind a proxy, configure ProxyFix: docs/security.md)."""
    return request.remote_addr or "unknown"


def now() -> float:
    """The clock the throttles read (``context.now()``, which tests move)."""
    return context.now().timestamp()


def wait_text(seconds: int) -> str:
    """How long to wait, in whole minutes rounded up, in the visitor's language ("3 min")."""
    return gettext("%(minutes)d min", minutes=max(1, math.ceil(seconds / 60)))


def address_message(seconds: int) -> str:
    """Too many failures from this address."""
    return gettext(
        "Too many failed attempts from your network. Try again in %(wait)s.",
        wait=wait_text(seconds),
    )


def order_message(seconds: int) -> str:
    """Too many failures for this order number; the right answer still works."""
    return gettext(
        "Too many wrong answers for this order recently. The right order number, contact and "
        "query password still work now; otherwise try again in %(wait)s.",
        wait=wait_text(seconds),
    )


def login_message(seconds: int) -> str:
    """Too many failures for this username; the right password still works."""
    return gettext(
        "Too many wrong passwords for this login recently. The right password still works "
        "now; otherwise try again in %(wait)s.",
        wait=wait_text(seconds),
    )


def retry_after(seconds: int) -> dict[str, str]:
    """The ``Retry-After`` header for a wait."""
    return {"Retry-After": str(max(1, seconds))}
