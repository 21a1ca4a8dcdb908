"""The `portal` command: Flask's CLI plus the portal's own groups.

`portal --help` and each command must start fast (issue 23: `portal --help` once took 1.4 s,
building the whole application to list its commands). So the command groups are named here with
the line `--help` shows, and a group's module is imported only when that group is run or asked
for its own help; `tests/test_cli.py` checks this table against the commands the application
really has, so it cannot drift from them.
"""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path
from typing import NamedTuple

import click
from flask import Flask
from flask.cli import FlaskGroup

from portal.config import PROJECT_ROOT, ConfigError


class LazyCommand(NamedTuple):
    """Where a command lives, and the first line of its help (shown in its group's list)."""

    module: str
    attribute: str
    summary: str

    def load(self) -> click.Command:
        command = getattr(importlib.import_module(self.module), self.attribute)
        assert isinstance(command, click.Command)
        return command


#: Every group the application's areas attach to `app.cli` (their `init_app`), and the
#: Flask-Limiter plugin's, by name.
APP_COMMANDS: dict[str, LazyCommand] = {
    "access": LazyCommand("portal.access.cli", "access_cli",
                          "Establishments, access grants, annual review, expiry."),
    "audit": LazyCommand("portal.audit.cli", "audit_cli",
                         "Verify, export, purge and check the audit trail."),
    "backup": LazyCommand("portal.backups.cli", "backup_cli",
                          "Sealed backups: create, verify, restore, prune, list."),
    "db": LazyCommand("portal.commands", "db_cli", "Create and upgrade the database schema."),
    "demo": LazyCommand("portal.commands", "demo_command",
                        "Create the SQLite database, load the demo protocol and accounts, "
                        "then serve."),
    "jobs": LazyCommand("portal.jobs.cli", "jobs_cli",
                        "The job runner: run the duties that are due, show them."),
    "limiter": LazyCommand("flask_limiter.commands", "cli",
                           "Flask-Limiter maintenance & utility commmands"),
    "meddra": LazyCommand("portal.meddra.cli", "meddra_cli",
                          "Load the laboratory's MedDRA release (checks and names MedDRA "
                          "codes)."),
    "outbox": LazyCommand("portal.outbox.cli", "outbox_cli",
                          "Outgoing mail: deliver what is due, show the state."),
    # `schema`, `check` and the importers are pure file work and run without a database, a key
    # file or a production configuration; `install` loads the application itself.
    "protocol": LazyCommand("portal.protocols.cli", "protocol_cli",
                            "Describe, check and import PUT-SP protocol definitions."),
    "records": LazyCommand("portal.records.cli", "records_cli",
                           "Patients' records: maintenance of derived data."),
    "register": LazyCommand("portal.registers.cli", "register_cli",
                            "Accountability registers: exports and the breach clock."),
    "report": LazyCommand("portal.reports.cli", "report_cli",
                          "Periodic summary reports to ANSM: calendar and files."),
    "retention": LazyCommand("portal.retention.cli", "retention_cli",
                             "Retention of cases: active base, archive, purge."),
    "rights": LazyCommand("portal.rights.cli", "rights_cli",
                          "Rights requests: deadlines and retention."),
    "users": LazyCommand("portal.accounts.cli", "users_cli",
                         "Create, disable, reset and unlock accounts."),
}

#: `portal keys rotate|retire-kek`: the sealing package's re-wrapping of data keys.
KEY_COMMANDS: dict[str, LazyCommand] = {
    "retire-kek": LazyCommand("portal.sealing", "retire_kek_command",
                              "Remove an old key-encryption key from the key file (refused "
                              "while rows use it)."),
    "rotate": LazyCommand("portal.sealing", "rotate_command",
                          "Add a new key-encryption key and re-wrap every data key (resumes an "
                          "interrupted run)."),
}


class LazyGroupMixin:
    """A group whose listed commands are imported only when one of them is used."""

    lazy_commands: dict[str, LazyCommand] = {}

    def lazy_command(self, name: str) -> click.Command | None:
        own: dict[str, click.Command] = self.commands  # type: ignore[attr-defined]
        if name in own:
            return own[name]
        if name in self.lazy_commands:
            return self.lazy_commands[name].load()
        return None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy_commands))  # type: ignore[attr-defined]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing, except that a lazy command shows its summary without importing.
        own: dict[str, click.Command] = self.commands  # type: ignore[attr-defined]
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            shown = own.get(name) or click.Command(name, help=self.lazy_commands[name].summary)
            if not shown.hidden:
                rows.append((name, shown))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name, command in rows])


class KeysGroup(LazyGroupMixin, click.Group):
    lazy_commands = KEY_COMMANDS

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.lazy_command(cmd_name)


@click.group("keys", cls=KeysGroup, help="Create the key file; rotate the key-encryption key.")
def keys_cli() -> None:
    """Key file commands (they run without loading the portal)."""


@keys_cli.command("init")
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the key file (default: PORTAL_KEY_FILE or instance/portal.keys).",
)
def keys_init(path: Path | None) -> None:
    """Generate a new key file (mode 0400); never overwrites an existing one."""
    target = path or Path(
        os.environ.get("PORTAL_KEY_FILE", str(PROJECT_ROOT / "instance" / "portal.keys"))
    )
    from portal.keys import KeyFileError, new_keyring, write_key_file

    try:
        write_key_file(target, new_keyring())
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Key file written to {target} (mode 0400). Keep a copy in a safe place: "
               "without it, the data cannot be decrypted.")


def _create_app() -> Flask:
    from portal import create_app
    from portal.keys import KeyFileError

    try:
        return create_app()
    except (ConfigError, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None


def portal_version() -> str:
    """Return the installed portal's version (the one pyproject.toml declares)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aac-portal")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    click.echo(f"AAC Portal {portal_version()} (Flask {version('flask')}, "
               f"Python {platform.python_version()})")
    ctx.exit()


class DatabaseUnavailable(click.ClickException):
    """A command met a database that does not answer: one line, no traceback."""

    #: EX_TEMPFAIL: a monitor or cron wrapper can tell "try again" from a failure of the duty
    exit_code = 75

    def __init__(self, exc: BaseException) -> None:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        super().__init__(
            f"the database does not answer ({reason}). The command stopped; what it had not "
            "committed was not saved. Run it again once the database is back.")


class PortalGroup(LazyGroupMixin, FlaskGroup):
    """Flask's group, with the portal's groups found without building the application, and a
    database outage reported as one clear line (exit 75)."""

    lazy_commands = APP_COMMANDS

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # A name not in the table (another plugin's) is looked up the way Flask does.
        return self.lazy_command(cmd_name) or super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from portal.db import DATABASE_UNAVAILABLE

            if isinstance(exc, DATABASE_UNAVAILABLE):
                raise DatabaseUnavailable(exc) from None
            raise


cli = PortalGroup(create_app=_create_app, add_version_option=False, help="AAC Portal.",
                 params=[click.Option(["--version"], is_flag=True, expose_value=False,
                                      is_eager=True, callback=_print_version,
                                      help="Show the portal's version and exit.")])
cli.add_command(keys_cli)


def main() -> None:
    """Entry point of the `portal` console script."""
    cli.main(prog_name="portal")


if __name__ == "__main__":
    main()
