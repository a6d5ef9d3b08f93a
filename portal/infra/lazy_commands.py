"""The portal's commands on ``app.cli``, each named here and imported only when the command line
lists or runs it. A web worker builds the app but never runs a command, so the command-line
modules (and what only they use: backups, the demo data, the plugin template, the audit tools)
stay out of its memory."""

from __future__ import annotations

import importlib

import click
from flask import Flask
from flask.cli import AppGroup

#: each command's name -> ``module:attribute`` of its click command
COMMANDS: dict[str, str] = {
    "init-db": "portal.cli:init_db",
    "load-demo": "portal.cli:load_demo",
    "create-user": "portal.cli:create_user",
    "set-password": "portal.cli:set_password",
    "sign-out": "portal.cli:sign_out",
    "password-hashes": "portal.cli:password_hashes",
    "set-query-password": "portal.cli:set_query_password",
    "worker": "portal.cli:worker",
    "metrics-server": "portal.cli:metrics_server",
    "demo-bank-statement": "portal.cli:demo_bank_statement",
    "import-orders": "portal.cli:import_orders",
    "create-api-key": "portal.cli:create_api_key",
    "backup": "portal.backup_cli:backup_command",
    "restore": "portal.backup_cli:restore_command",
    "plugins": "portal.plugins.cli:plugins",
    "audit": "portal.audit_cli:audit",
    "rollups": "portal.rollups_cli:rollups_group",
    "storage": "portal.storage_cli:storage_group",
    "connect": "portal.plugins.connect_cli:connect",
    "check-channels": "portal.plugins.cli:check_channels_command",
    "new-plugin": "portal.plugins.cli:new_plugin",
    "db": "portal.infra.migrations:db_commands",
}


def load(name: str) -> click.Command:
    """The click command registered under ``name`` (imported now)."""
    module, _, attribute = COMMANDS[name].partition(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name]} is not a click command")
    return command


class LazyAppGroup(AppGroup):
    """Flask's ``app.cli`` group with the commands of ``COMMANDS`` loaded at first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.add_command(load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


def install(app: Flask) -> None:
    """Give ``app`` the lazy command group (before blueprints or plugins add commands)."""
    app.cli = LazyAppGroup(app.name)
