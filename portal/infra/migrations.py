"""Database migrations (Alembic, through Flask-Migrate), bound to an app only when used.

Serving pages never needs Alembic, so ``create_app`` does not load it: ``upgrade`` (behind
``refund-portal init-db``, ``make run``, the tests and the benches) and the ``db`` command
group (``flask --app portal db ...``, Flask-Migrate's own) bind Flask-Migrate to the app
first, and only then import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo

from portal.extensions import db

DIRECTORY = str(Path(__file__).resolve().parent.parent / "migrations")


def bind(app: Flask) -> None:
    """Register Flask-Migrate on ``app`` (this imports Alembic); once per app."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate  # heavy: Alembic, only for what migrates

        Migrate(app, db, directory=DIRECTORY)


def upgrade(revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` to the current app's database."""
    bind(current_app)
    from flask_migrate import upgrade as alembic_upgrade  # heavy: Alembic

    alembic_upgrade(revision=revision)


class _MigrateCommands(click.Group):
    """Flask-Migrate's ``db`` group, loaded (with Alembic) when it is invoked: parsing and
    running are handed to that group, so its options and subcommands are all there."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        info = parent.ensure_object(ScriptInfo) if parent else ScriptInfo()
        bind(info.load_app())
        from flask_migrate.cli import db as group  # type: ignore[import-not-found]  # heavy: Alembic; no stub

        return group.make_context(info_name, args, parent=parent, **extra)


db_commands = _MigrateCommands(
    "db", help="Perform database migrations (Flask-Migrate's commands; Alembic loads here)."
)
