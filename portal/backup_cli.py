"""``refund-portal backup`` and ``refund-portal restore``: the database and evidence files
with a manifest of hashes (``portal/services/backup``)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.services.backup import backups
from portal.services.backup.manifest import BackupRefused, Manifest, verify


def _summary(manifest: Manifest) -> str:
    counts = ", ".join(f"{n} {table}" for table, n in sorted(manifest.counts.items()))
    return (
        f"{manifest.database_kind} database at {', '.join(manifest.revisions) or 'no revision'}"
        f" ({counts}); {len(manifest.files)} evidence files"
    )


@click.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(folder: Path) -> None:
    """Back up the database and evidence files into FOLDER (new or empty), with a manifest."""
    try:
        manifest = backups.take(folder)
    except BackupRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up into {folder}: {_summary(manifest)}")
    for problem in manifest.problems:
        click.echo(f"warning: {problem}", err=True)


@click.command("restore")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="only check FOLDER against its manifest; write nothing")
@with_appcontext
def restore_command(folder: Path, check: bool) -> None:
    """Restore a backup from FOLDER into the configured empty database and evidence store,
    after checking every file against the manifest (nothing is written if one differs)."""
    try:
        if check:
            manifest = verify(folder)
            click.echo(f"the backup in {folder} matches its manifest: {_summary(manifest)}")
            return
        manifest = backups.restore(folder)
    except BackupRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored from {folder}: {_summary(manifest)}")
    click.echo("next: refund-portal init-db (if this version is newer), refund-portal audit verify")
