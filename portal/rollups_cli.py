"""``refund-portal rollups rebuild --since DATE``: fill the dashboards' daily rollups for the
days before the job kept them (an existing installation), or again after data was corrected."""

from __future__ import annotations

import time
from datetime import timedelta

import click
from flask.cli import with_appcontext

from portal.domain import rollups as days
from portal.services import context
from portal.services.reports import rollups

#: days rebuilt per transaction
CHUNK_DAYS = 31


@click.group("rollups")
def rollups_group() -> None:
    """The dashboards' daily rollups."""


@rollups_group.command("rebuild")
@click.option("--since", required=True, help="first day, YYYY-MM-DD (Beijing)")
@click.option("--until", default=None, help="last day, YYYY-MM-DD (Beijing); default: today")
@with_appcontext
def rebuild_command(since: str, until: str | None) -> None:
    """Rebuild the rollups of every day from SINCE to UNTIL (safe to run again)."""
    first = days.parse_day(since)
    last = days.parse_day(until) if until else days.day_of(context.now())
    if first is None or last is None:
        raise click.ClickException("give days as YYYY-MM-DD")
    if last < first:
        raise click.ClickException("--until is before --since")
    started = time.perf_counter()
    total = 0
    day = first
    while day <= last:
        end = min(last, day + timedelta(days=CHUNK_DAYS - 1))
        total += rollups.rebuild(day, end)
        day = end + timedelta(days=1)
    took = time.perf_counter() - started
    click.echo(f"rebuilt {first} to {last}: {total} rows in {took:.1f} s")
