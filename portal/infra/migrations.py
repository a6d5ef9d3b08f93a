"""Database migrations (Alembic, through Flask-Migrate), bound to an app only when used.

Serving pages never needs Alembic, so ``create_app`` does not load it: ``upgrade`` (behind
``refund-portal init-db``, ``make run``, the tests and the benches) and the ``db`` command
group (``flask --app portal db ...``, Flask-Migrate's own) bind Flask-Migrate to the app
first, and only then import it.
"""

from __future__ import annotations

import ast
import functools
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


def _revision_ids(value: ast.expr | None) -> tuple[str, ...]:
    """The revision ids an assignment's value names (a string, a tuple of them, or None)."""
    if value is None:
        return ()
    found = ast.literal_eval(value)
    if found is None:
        return ()
    return (found,) if isinstance(found, str) else tuple(found)


@functools.cache
def revisions(directory: str = DIRECTORY) -> tuple[frozenset[str], frozenset[str]]:
    """(every revision, the heads) of the migration scripts, read from their source with
    ``ast``.

    For ``/readyz``: Alembic's own ``ScriptDirectory`` would load Alembic (and execute every
    script) in a web worker that otherwise never needs it. A script names its revision and
    its ``down_revision`` as literals (Alembic's template writes them so); a head is a
    revision no other script revises. ``tests/test_health.py`` checks this against Alembic.
    """
    known: set[str] = set()
    revised: set[str] = set()
    for path in Path(directory, "versions").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id == "revision":
                    known.update(_revision_ids(node.value))
                elif isinstance(target, ast.Name) and target.id == "down_revision":
                    revised.update(_revision_ids(node.value))
    return frozenset(known), frozenset(known - revised)


def head_revisions(directory: str = DIRECTORY) -> frozenset[str]:
    """The head revisions of the migration scripts (see ``revisions``)."""
    return revisions(directory)[1]


def known_revisions(directory: str = DIRECTORY) -> frozenset[str]:
    """Every revision the migration scripts define (see ``revisions``)."""
    return revisions(directory)[0]
