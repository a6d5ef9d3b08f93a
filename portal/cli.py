"""The ``refund-portal`` command line: a Flask CLI group with the portal's own commands."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext


def _create() -> Flask:
    from portal import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create)
def main() -> None:
    """refund-portal: refunds for virtual-goods card shops."""


def register_cli(app: Flask) -> None:
    """Add the portal's commands to ``flask``/``refund-portal``."""
    for command in (init_db, load_demo, create_user, worker, dev):
        app.cli.add_command(command)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from flask_migrate import upgrade

    upgrade()
    click.echo("database is at the latest migration")


@click.command("load-demo")
@with_appcontext
def load_demo() -> None:
    """Load demo merchants, products, orders and staff logins (skipped if already loaded)."""
    from portal.demo import load

    created = load()
    click.echo("demo data loaded" if created else "demo data already present")


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["reviewer", "supervisor", "merchant"]), required=True)
@click.option("--merchant", "merchant_slug", default=None, help="merchant slug (merchant staff)")
@click.option("--name", "display_name", default=None)
@click.password_option()
@with_appcontext
def create_user(
    username: str, role: str, merchant_slug: str | None, display_name: str | None, password: str
) -> None:
    """Create a staff login."""
    from portal.services.staff import create_staff_user

    user = create_staff_user(username, password, role, merchant_slug, display_name)
    click.echo(f"created {user.role} {user.username}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="run queued jobs, then exit")
@with_appcontext
def worker(burst: bool) -> None:
    """Run an RQ worker (with the scheduler) for the portal's queue."""
    from jobs.worker import run_worker

    run_worker(current_app._get_current_object(), burst=burst)


@click.command("dev")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def dev(host: str, port: int) -> None:
    """Migrate, load demo data, start embedded Redis, worker and web server (Ctrl-C stops all)."""
    from portal.devserver import run

    run(host, port)


if __name__ == "__main__":
    main()
