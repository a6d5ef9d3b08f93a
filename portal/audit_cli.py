"""``refund-portal audit``: verify the audit trail, seal a day, export a seal, the keys."""

from __future__ import annotations

import json
import sys
import time
from typing import IO

import click
from flask.cli import with_appcontext

from portal.services import context
from portal.services.audit import keys, seals
from portal.services.audit.verify import verify


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit trail: verify, seal, export."""


@audit.command("verify")
@click.option("--case", "case_id", type=int, default=None, help="check one case's chain only")
@with_appcontext
def verify_command(case_id: int | None) -> None:
    """Check the chains and seals; name the first event that does not fit (exit 1)."""
    started = time.perf_counter()
    report = verify(case_id)
    took = time.perf_counter() - started
    click.echo(
        f"checked {report.events} events in {report.chains} chains and {report.seals} seals"
        f" in {took:.1f} s"
    )
    if report.ok:
        click.echo("the audit trail verifies")
        return
    first = report.first
    assert first is not None
    click.echo(f"first event that does not fit: {first.describe()}")
    for problem in report.problems:
        if problem is not first:
            click.echo(f"also: {problem.describe()}")
    sys.exit(1)


@audit.command("seal")
@click.option("--day", default=None, help="YYYY-MM-DD (Beijing); default: yesterday")
@with_appcontext
def seal_command(day: str | None) -> None:
    """Seal a day (once: a sealed day is left as it is)."""
    try:
        result = seals.seal_day(day or seals.yesterday(context.now()))
    except (ValueError, keys.SealKeyMissing) as exc:
        raise click.ClickException(str(exc)) from None
    seal = result.seal
    state = "sealed" if result.made else "already sealed"
    click.echo(f"{seal.day} {state}: seal {seal.seal_no}, {seal.head_count} chain heads")


@audit.command("export-seal")
@click.option("--day", required=True, help="YYYY-MM-DD")
@with_appcontext
def export_seal(day: str) -> None:
    """Print a day's seal as JSON, to send to a supervisor or merchant."""
    seal = seals.find(day)
    if seal is None:
        raise click.ClickException(f"no seal for {day}")
    click.echo(json.dumps(seals.export(seal), ensure_ascii=False, indent=1))


@audit.command("check-seal")
@click.argument("document", type=click.File("r"))
@click.option("--public-key", default=None, help="the key you trust (base64); default: ours")
@with_appcontext
def check_seal(document: IO[str], public_key: str | None) -> None:
    """Check an exported seal document against its signature and heads (exit 1 if not)."""
    try:
        doc = json.load(document)
    except ValueError:
        raise click.ClickException("not a JSON document") from None
    key = public_key or keys.public_key_text(keys.private_key())
    problems = seals.check_document(doc if isinstance(doc, dict) else {}, key)
    if problems:
        raise click.ClickException("; ".join(problems))
    click.echo("the seal checks")


@audit.command("public-key")
@with_appcontext
def public_key() -> None:
    """Print the public key seals are checked with (base64 of 32 raw bytes)."""
    try:
        click.echo(keys.public_key_text(keys.private_key()))
    except keys.SealKeyMissing as exc:
        raise click.ClickException(str(exc)) from None


@audit.command("new-key")
def new_key() -> None:
    """Print a new private seal key for AUDIT_SEAL_KEY (keep it secret)."""
    click.echo(keys.new_key_text())
