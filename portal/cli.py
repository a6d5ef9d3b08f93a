"""The ``refund-portal`` command line: a Flask CLI group with the portal's own commands (the
app lists them by name in ``portal.infra.lazy_commands`` and loads this module when one runs)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, NoAppException, with_appcontext

from portal import create_app
from portal.config import ConfigError
from portal.dev.demo import load
from portal.extensions import db
from portal.infra import migrations
from portal.models import Merchant
from portal.services.accounts import hash_audit, staff
from portal.services.accounts.staff import create_staff_user
from portal.services.integration import api_keys


def _create() -> Flask:
    # a configuration the app refuses (no secret key, ...) is a message for the operator,
    # not a traceback: Flask's CLI prints a NoAppException as one line
    try:
        return create_app()
    except ConfigError as exc:
        raise NoAppException(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_create)
def main() -> None:
    """refund-portal: refunds for virtual-goods card shops."""


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    migrations.upgrade()
    click.echo("database is at the latest migration")


@click.command("load-demo")
@with_appcontext
def load_demo() -> None:
    """Load demo merchants, products, orders and staff logins (skipped if already loaded)."""
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
    user = create_staff_user(username, password, role, merchant_slug, display_name)
    click.echo(f"created {user.role} {user.username}")


def _staff_id(username: str) -> int:
    user = staff.find_by_username(username)
    if user is None:
        raise click.ClickException(f"no staff login {username!r}")
    return user.id


@click.command("set-password")
@click.argument("username")
@click.password_option()
@with_appcontext
def set_password(username: str, password: str) -> None:
    """Give a staff login a new password; every session it had ends."""
    staff.set_password(_staff_id(username), password)
    click.echo(f"password of {username} changed; its sessions have ended")


@click.command("sign-out")
@click.argument("username")
@with_appcontext
def sign_out(username: str) -> None:
    """End every session of a staff login, on every device (a lost laptop, a leaver)."""
    staff.end_sessions(_staff_id(username))
    click.echo(f"{username} is signed out everywhere")


@click.command("password-hashes")
@with_appcontext
def password_hashes() -> None:
    """List stored password hashes too costly to verify (never checked: nobody gets in)."""
    found = hash_audit.over_bound()
    for row in found:
        click.echo(f"{row.owner}: {row.problem}. {row.fix}")
    click.echo(f"{len(found)} stored hash(es) over the bound")
    if found:
        raise SystemExit(1)


@click.command("set-query-password")
@click.argument("order_no")
@click.option("--merchant", "slug", required=True, help="the shop's merchant slug")
@click.password_option(confirmation_prompt=True)
@with_appcontext
def set_query_password(order_no: str, slug: str, password: str) -> None:
    """Give an order a new query password (then tell the buyer)."""
    if len(password) < 4:
        raise click.ClickException("a query password needs at least 4 characters")
    order = hash_audit.find_order(order_no, slug)
    if order is None:
        raise click.ClickException(f"no order {order_no!r} of merchant {slug!r}")
    hash_audit.set_query_password(order, password)
    click.echo(f"query password of {order_no} ({slug}) set; tell the buyer")


@click.command("worker")
@click.option("--burst", is_flag=True, help="run queued jobs, then exit")
@click.option(
    "--fork/--no-fork",
    default=False,
    help="--fork: a work-horse process per job (RQ's default); --no-fork (the default): every "
    "job in the worker's own process, keeping its database connection (docs/performance.md)",
)
@click.option(
    "--max-jobs", type=click.IntRange(min=1), default=None, help="exit after this many jobs"
)
@with_appcontext
def worker(burst: bool, fork: bool, max_jobs: int | None) -> None:
    """Run an RQ worker (with the scheduler) for the portal's queue."""
    from jobs.worker import run_worker  # heavy: RQ's worker, for this command only

    # current_app is typed as the Flask it stands for, not as the proxy it is
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    run_worker(app, burst=burst, fork=fork, max_jobs=max_jobs)


@click.command("metrics-server")
@click.option("--host", default="127.0.0.1", help="address to listen on (default: this machine)")
@click.option("--port", default=9108, type=int)
@with_appcontext
def metrics_server(host: str, port: int) -> None:
    """Serve /metrics alone (for a machine running workers and no web process)."""
    from portal.infra.metrics_server import server  # heavy: for this command only

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("METRICS_TOKEN"):
        raise click.ClickException("set METRICS_TOKEN first: /metrics is off without it")
    click.echo(f"serving /metrics on http://{host}:{port}/metrics")
    server(app, host, port).serve_forever()


@click.command("demo-bank-statement")
@with_appcontext
def demo_bank_statement() -> None:
    """Development only: pay the pending bank refunds as the demo's simulated bank would."""
    # optional: the demo's bank (the bank plugin's simulator), never loaded in production
    from portal.dev.bankday import NotDevelopment, run_bank_day

    try:
        day = run_bank_day()
    except NotDevelopment as exc:
        raise click.ClickException(str(exc)) from None
    if day.batch_ref is None:
        click.echo("no bank payouts are waiting for export")
    else:
        click.echo(f"batch {day.batch_ref}: {day.exported} exported, {day.applied} settled")


@click.command("dev")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def dev(host: str, port: int) -> None:
    """Migrate, load demo data, start embedded Redis, worker and web server (Ctrl-C stops all)."""
    from portal.dev.devserver import run  # heavy: the simulators' requests, for `dev` only

    run(host, port)


def _merchant_id(slug: str | None) -> int:
    if slug:
        merchant = db.session.scalar(db.select(Merchant).where(Merchant.slug == slug))
        if merchant is None:
            raise click.ClickException(f"no merchant with slug {slug!r}")
        return merchant.id
    ids = db.session.scalars(db.select(Merchant.id).limit(2)).all()
    if len(ids) != 1:
        raise click.ClickException("name the merchant with --merchant SLUG")
    return ids[0]


@click.command("import-orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--merchant", "slug", default=None, help="merchant slug (needed if several)")
@click.option("--dry-run", is_flag=True, help="check every row, import nothing")
@with_appcontext
def import_orders(file: str, slug: str | None, dry_run: bool) -> None:
    """Import orders from a CSV file: all rows or none; every bad row is listed by line."""
    from portal.services.integration import csv_import, ingest  # heavy: pydantic

    merchant_id = _merchant_id(slug)
    with open(file, encoding="utf-8-sig") as fh:
        text = fh.read()
    parsed = csv_import.parse(merchant_id, text)
    for err in parsed.errors:
        click.echo(f"line {err.line}, {err.column}: {err.message}", err=True)
    if not parsed.clean:
        raise click.ClickException(f"{len(parsed.errors)} problem(s); nothing imported")
    if dry_run:
        click.echo(f"{len(parsed.rows)} rows checked, no problems; nothing imported (dry run)")
        return
    with click.progressbar(length=len(parsed.rows), label="importing") as bar:
        last = [0]

        def progress(done: int, total: int) -> None:
            bar.update(done - last[0])
            last[0] = done

        count = csv_import.import_orders(
            merchant_id, text, ingest.shop_actor(merchant_id, "import-orders"), progress
        )
    click.echo(f"{count} orders imported")


@click.command("create-api-key")
@click.option("--merchant", "slug", required=True, help="merchant slug")
@click.option("--label", default="", help="to tell keys apart")
@with_appcontext
def create_api_key(slug: str, label: str) -> None:
    """Create an API key for a merchant and print it (shown only this once)."""
    _row, key = api_keys.create_for_slug(slug, label)
    click.echo(key)


# on the group itself, not on the app: the group would create the app (and refuse the demo's
# published secret key) before `dev` could say this is a development run
main.add_command(dev)


if __name__ == "__main__":
    main()
