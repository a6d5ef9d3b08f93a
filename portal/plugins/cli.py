"""``refund-portal plugins`` (what is loaded) and ``refund-portal new-plugin NAME``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.plugins.scaffold import Names, TemplateError, generate
from portal.plugins.startup import loaded_plugins
from portal.services.money.channel_switches import disabled_ids


@click.command("plugins")
@with_appcontext
def plugins() -> None:
    """List plugins: name, package, version, channels and status (broken ones with why)."""
    try:
        disabled = disabled_ids()
    except Exception:  # noqa: BLE001 - the database may not be migrated yet
        disabled = set()
    for info in loaded_plugins():
        ids = ", ".join(f"{c} (disabled)" if c in disabled else c for c in info.channel_ids)
        package = f"{info.distribution} {info.version}".strip() or info.module
        click.echo(f"{info.name:<20} {package:<32} {info.status:<12} {ids or '-'}")
        for problem in info.problems:
            click.echo(f"{'':<20} ! {problem}")


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where to write it (default: ./refund-portal-NAME)",
)
@click.option("--label", default=None, help="the channel's label shown to buyers")
def new_plugin(name: str, directory: Path | None, label: str | None) -> None:
    """Write a new payout channel plugin package called NAME (its channel id)."""
    try:
        names = Names.for_name(name, label)
        target = directory or Path.cwd() / names.distribution
        written = generate(name, target, label)
    except TemplateError as exc:
        raise click.UsageError(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"next: cd {target} && pip install -e '.[test]' && pytest "
        "(red until channel.py and the test's Target are written)"
    )
