"""``refund-portal storage``: check the evidence store, move local evidence to object storage."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from portal.config import ConfigError
from portal.services.uploads import storage, storage_migrate
from portal.services.uploads.storage_local import LocalStore


@click.group("storage")
def storage_group() -> None:
    """Where evidence files are kept (EVIDENCE_STORAGE): check it, migrate to it."""


@storage_group.command("check")
@with_appcontext
def check_command() -> None:
    """Say whether the configured evidence store answers (exit 1 if not)."""
    store = storage.current()
    if store.check():
        click.echo(f"the evidence store ({store.kind}) answers")
        return
    click.echo(f"the evidence store ({store.kind}) does not answer: see the log", err=True)
    sys.exit(1)


@storage_group.command("migrate")
@click.option("--quiet", is_flag=True, help="print only problems and the summary")
@with_appcontext
def migrate_command(quiet: bool) -> None:
    """Copy every evidence file from EVIDENCE_DIR to the EVIDENCE_S3_* store, checking each
    SHA-256; safe to run again (what is already there and verifies is skipped). Exit 1 if a
    file has a problem (listed; its local copy is kept), 2 if the store stops answering."""
    # heavy: the S3 client, for this command only
    from portal.services.uploads.storage_s3 import S3Store

    try:
        target = S3Store.from_settings()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    source = LocalStore.from_settings()
    click.echo(f"from {source.folder} to bucket {target.bucket} (prefix {target.prefix!r})")

    def progress(done: int, total: int) -> None:
        if not quiet and (done % 100 == 0 or done == total):
            click.echo(f"  {done}/{total} evidence rows")

    try:
        report = storage_migrate.migrate(source, target, progress)
    except storage.StorageUnavailable:
        click.echo(
            "the object store stopped answering; nothing was deleted. Run the command again:"
            " files already copied are verified and skipped.",
            err=True,
        )
        sys.exit(2)
    for problem in report.problems:
        click.echo(f"PROBLEM {problem.describe()}", err=True)
    click.echo(
        f"{report.copied} files copied and verified, {report.already} already in the store"
        f" and verified, {len(report.problems)} problems"
    )
    if not report.ok:
        sys.exit(1)
    click.echo("every file is in the store with its recorded hash; set EVIDENCE_STORAGE=s3")
