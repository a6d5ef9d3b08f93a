"""The commands on ``app.cli`` are named in one table and loaded when the command line asks:
each entry is the command of that name, the command line lists and runs them all, and building
the app imports none of the command-line modules."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from portal.infra import lazy_commands

CLI_MODULES = (
    "portal.cli",
    "portal.audit_cli",
    "portal.backup_cli",
    "portal.storage_cli",
    "portal.plugins.cli",
    "portal.plugins.connect_cli",
    "portal.dev.demo",
)


@pytest.mark.parametrize("name", sorted(lazy_commands.COMMANDS))
def test_each_entry_is_the_command_of_its_name(name):
    command = lazy_commands.load(name)
    assert isinstance(command, click.Command)
    assert command.name == name


def test_an_entry_that_is_not_a_command_is_refused(monkeypatch):
    monkeypatch.setitem(lazy_commands.COMMANDS, "broken", "portal.infra.lazy_commands:install")
    with pytest.raises(TypeError, match="not a click command"):
        lazy_commands.load("broken")


def test_the_app_lists_every_command_and_runs_one(app):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["--help"])
    assert listed.exit_code == 0, listed.output
    for name in lazy_commands.COMMANDS:
        assert name in listed.output, name
    done = runner.invoke(args=["password-hashes"])
    assert done.exit_code == 0, done.output


def test_building_the_app_imports_no_command_line_module(app):
    code = (
        "import sys\n"
        "from portal import create_app\n"
        "create_app({'SECRET_KEY': 'x', 'ENVIRONMENT': 'development',"
        f" 'DATABASE_URL': {app.config['SQLALCHEMY_DATABASE_URI']!r},"
        f" 'REDIS_URL': {app.config['REDIS_URL']!r}}})\n"
        f"print(sorted(m for m in {CLI_MODULES!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_installed_command_line_runs_a_lazy_command():
    out = subprocess.run(
        [sys.executable, "-m", "portal.cli", "new-plugin", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PORTAL_SECRET_KEY": "x", "PORTAL_ENVIRONMENT": "development", "PATH": "/usr/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout
