"""Wiring done once per app: database, extensions, plugins, blueprints, errors, headers."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app, has_request_context, request, session
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as config_module
from portal import models  # noqa: F401 - register tables
from portal.cli import register_cli
from portal.extensions import csrf, db, htmx, i18n, login_manager
from portal.infra import heap
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
    _ = app.logger
    heap.pin_mmap_threshold()
    config_module.check_secret_key(app.config)
    app.config["SESSION_COOKIE_SECURE"] = config_module.cookie_secure(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = config_module.database_uri(
        app.config, app.instance_path
    )
    # a pooled server connection can drop (restart, idle timeout): ping it before use;
    # a SQLite file cannot, and the ping would only cost each checkout a statement
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        {"pool_pre_ping": not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")},
    )
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

    init_plugins(app)

    register_blueprints(app)

    register_cli(app)

    install_web_helpers(app)

    install_assets(app)

    @app.context_processor
    def _inject() -> dict:
        return {"current_locale": get_locale() or app.config["DEFAULT_LOCALE"]}


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
