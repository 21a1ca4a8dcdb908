"""The `portal` command: Flask's CLI plus the portal's own groups."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup

from portal.config import PROJECT_ROOT, ConfigError
from portal.db import DATABASE_UNAVAILABLE
from portal.keys import KeyFileError, new_keyring, write_key_file
from portal.protocols.cli import protocol_cli


@click.group("keys", help="Create the key file; rotate the key-encryption key.")
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
    try:
        write_key_file(target, new_keyring())
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Key file written to {target} (mode 0400). Keep a copy in a safe place: "
               "without it, the data cannot be decrypted.")


def _create_app() -> Flask:
    from portal import create_app

    try:
        return create_app()
    except (ConfigError, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None


def _attach_key_rotation() -> None:
    """`portal keys rotate|retire-kek`: the sealing package's re-wrapping of data keys."""
    from portal.sealing import retire_kek_command, rotate_command

    keys_cli.add_command(rotate_command)
    keys_cli.add_command(retire_kek_command)


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


class PortalGroup(FlaskGroup):
    """Flask's group, with a database outage reported as one clear line (exit 75)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DATABASE_UNAVAILABLE as exc:
            raise DatabaseUnavailable(exc) from None


cli = PortalGroup(create_app=_create_app, add_version_option=False, help="AAC Portal.",
                 params=[click.Option(["--version"], is_flag=True, expose_value=False,
                                      is_eager=True, callback=_print_version,
                                      help="Show the portal's version and exit.")])
cli.add_command(keys_cli)
# Found before the application is loaded: `schema`, `check` and the importers are pure file
# work and run without a database, a key file or a production configuration; `install` loads
# the application itself (with_appcontext).
cli.add_command(protocol_cli)
_attach_key_rotation()


def main() -> None:
    """Entry point of the `portal` console script."""
    cli.main(prog_name="portal")


if __name__ == "__main__":
    main()
