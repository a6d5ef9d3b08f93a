"""``refund-portal plugins`` (what is loaded), ``refund-portal check-channels`` (one harmless
call per configured channel) and ``refund-portal new-plugin NAME``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.domain.channel_checks import CheckOutcome
from portal.infra.i18n import force_locale, gettext
from portal.plugins.scaffold import Names, TemplateError, generate
from portal.plugins.startup import channels, loaded_plugins
from portal.plugins.words import text
from portal.services.money.channel_checks import ChannelCheck, all_passed, check_channels
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


@click.command("check-channels")
@click.option(
    "--language",
    type=click.Choice(["zh_CN", "en"]),
    default="zh_CN",
    show_default=True,
    help="the language of the report",
)
@with_appcontext
def check_channels_command(language: str) -> None:
    """Make one signed, harmless call per configured channel and say what it showed.

    Loads the channels as the portal does (the same settings and plugins); exits 1 when
    any check failed. A channel whose plugin offers no check is listed, not failed.
    """
    found = check_channels(channels().all())
    with force_locale(language):
        if not found:
            click.echo(gettext("No payout channel is configured."))
        for check in found:
            click.echo(check_line(check))
        failed = sum(1 for check in found if not check.outcome.passed)
        click.echo(
            gettext(
                "%(failed)d of %(total)d channel(s) failed the check.",
                failed=failed,
                total=len(found),
            )
        )
    if not all_passed(found):
        raise SystemExit(1)


def check_line(check: ChannelCheck) -> str:
    """One channel's line of the report, in the current language."""
    name = gettext("%(name)s (%(id)s)", name=text(check.label), id=check.channel_id)
    if check.outcome is CheckOutcome.UNCHECKABLE:
        said = gettext("cannot be checked (its plugin offers no connection check)")
    elif check.outcome is CheckOutcome.BROKEN:
        said = gettext(
            "the check itself failed (a bug in the plugin; tell its author) [%(detail)s]",
            detail=check.detail,
        )
    else:
        words = text(check.words) if check.words else ""
        if check.outcome is CheckOutcome.OK:
            said = gettext("OK: %(words)s", words=words)
        else:
            said = gettext("PROBLEM: %(words)s", words=words)
        if check.detail:
            said += " " + gettext("[gateway said: %(detail)s]", detail=check.detail)
    return gettext("%(channel)s: %(said)s", channel=name, said=said)


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
