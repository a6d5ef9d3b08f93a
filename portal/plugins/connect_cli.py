"""``refund-portal connect SOURCE``: read a shop's order source now, with a progress bar, and
list the rows not taken in (``--backfill`` reads it again from the start)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("connect")
@click.argument("source_id", metavar="SOURCE")
@click.option("--backfill", is_flag=True, help="read every order again from the start")
@click.option("--batch", default=500, show_default=True, help="rows per transaction")
@with_appcontext
def connect(source_id: str, backfill: bool, batch: int) -> None:
    """Bring in the orders of an order source (e.g. dujiaoka) until it has no more."""
    # heavy: the sync reads orders through the API's pydantic schema, which a web worker
    # (it registers this command) must not load
    from portal.plugins.order_sources import OrderSourceError  # heavy: as below
    from portal.services.errors import ConcurrentChange  # heavy: as below
    from portal.services.integration import order_sync  # heavy: pydantic (above)

    try:
        src = order_sync.source(source_id)
        src.check()
        if backfill:
            order_sync.restart(source_id)
        todo = src.remaining(order_sync.position(source_id))
        with click.progressbar(length=todo, label=f"reading {source_id}") as bar:
            last = [0]

            def progress(result: order_sync.SyncResult) -> None:
                bar.update(result.read - last[0])
                last[0] = result.read

            result = order_sync.sync(src, limit=batch, progress=progress)
    except OrderSourceError as exc:
        raise click.ClickException(str(exc)) from None
    except ConcurrentChange:
        raise click.ClickException(
            f"another reader is bringing in {source_id} now; try again later"
        ) from None
    click.echo(
        f"{result.read} rows read: {result.created} orders new, {result.delivered} deliveries, "
        f"{result.unchanged} unchanged, {result.unpaid} not paid, {result.problems} not taken in"
    )
    waiting = order_sync.problems(source_id)
    for p in waiting:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(p.detail.items()))
        click.echo(f"row {p.row_id} order {p.order_no or '-'}: {p.problem} ({detail})", err=True)
    if waiting:
        click.echo(f"{len(waiting)} row(s) not taken in; see above", err=True)
