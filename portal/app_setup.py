"""Wiring done once per app: database, extensions, plugins, blueprints, errors, headers."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app, has_request_context, request, session
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as config_module
from portal import models  # noqa: F401 - register tables
from portal.extensions import csrf, db, htmx, i18n, login_manager
from portal.infra import (
    heap,
    lazy_commands,
    logs,
    metrics,
    pool_ping,
    redis_client,
    request_ids,
    template_cache,
)
from portal.infra.assets import install_assets
from portal.infra.i18n import get_locale
from portal.plugins.startup import init_plugins
from portal.views.blueprints import register_blueprints
from portal.web import install_web_helpers


def select_locale() -> str | None:
    """The buyer's chosen language (cookie via /lang), else the browser's, else None (the
    default, zh_CN); outside a request (a job), None."""
    if not has_request_context():
        return None
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in languages:
        return chosen
    best: str | None = request.accept_languages.best_match(languages)
    return best


def configure(app: Flask) -> None:
    """Bind extensions and register everything on ``app``."""
    # reading app.logger puts Flask's handler on the "portal" logger; modules log to their own
    # logging.getLogger(__name__) below it (portal.services...), which propagate to it
    logs.install(app)  # first: JSON logs keep Flask from adding its own handler
    _ = app.logger
    heap.pin_mmap_threshold()
    config_module.check_secret_key(app.config)
    config_module.check_evidence_storage(app.config)
    _check_redis_url(app)
    app.config["SESSION_COOKIE_SECURE"] = config_module.cookie_secure(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = config_module.database_uri(
        app.config, app.instance_path
    )
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config))
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops > 0:
        # the client's address and scheme as the operator's own proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    db.init_app(app)
    csrf.init_app(app)
    i18n.init_app(
        app,
        languages=list(app.config["LANGUAGES"]),
        default_locale=app.config["DEFAULT_LOCALE"],
        locale_selector=select_locale,
    )
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _sqlite_pragmas(app)
    else:
        # a pooled server connection can drop (restart, idle timeout): one that sat idle is
        # checked before use (a SQLite file cannot drop)
        with app.app_context():
            pool_ping.install(db.engine)

    lazy_commands.install(app)

    init_plugins(app)

    register_blueprints(app)

    install_web_helpers(app)
    template_cache.install(app)

    install_assets(app)

    metrics.install(app)
    logs.install_request_events(app)
    # last: its hook then runs before every other (they may log, or answer early)
    request_ids.install(app)

    @app.context_processor
    def _inject() -> dict:
        return {"current_locale": get_locale() or app.config["DEFAULT_LOCALE"]}


def engine_options(config: dict[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured database.

    A pooled server connection that sat idle is checked before use by ``pool_ping`` (installed
    below), not by SQLAlchemy's ``pool_pre_ping`` on every checkout. A new PostgreSQL
    connection waits at most ``DATABASE_CONNECT_TIMEOUT`` seconds.
    """
    uri = config["SQLALCHEMY_DATABASE_URI"]
    options: dict[str, Any] = {}
    seconds = config.get("DATABASE_CONNECT_TIMEOUT")
    if uri.startswith("postgresql") and seconds and "connect_timeout=" not in uri:
        options["connect_args"] = {"connect_timeout": int(seconds)}
    return options


def _sqlite_pragmas(app: Flask) -> None:
    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "first_connect")
        def _on_first_connect(dbapi_conn: Any, _record: Any) -> None:
            # WAL is a property of the database file: set once, it stays for every connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()


def _check_redis_url(app: Flask) -> None:
    """Malformed Redis settings stop the start (a Sentinel URL is parsed, nothing connects)."""
    config_module.check_redis(app.config)
    url = app.config.get("REDIS_URL")
    if url and str(url).startswith(redis_client.SENTINEL_URL_SCHEME):
        try:
            redis_client.client_for_url(str(url))
        except ValueError as exc:
            raise config_module.ConfigError(f"PORTAL_REDIS_URL: {exc}") from None
