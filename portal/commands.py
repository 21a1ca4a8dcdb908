"""The portal's command groups that need the app (`portal db ...`, `portal demo`).

The app factory attaches them (`register_commands`); `portal.cli`, the console entry point,
holds what works without an app (`portal keys init`, `--version`).
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

db_cli = AppGroup("db", help="Create and upgrade the database schema.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: the newest)."""
    from portal import migrate

    migrate.upgrade(current_app, revision)
    click.echo(f"Database at revision {migrate.current_revision(current_app)}.")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the database to REVISION."""
    from portal import migrate

    migrate.downgrade(current_app, revision)
    click.echo(f"Database at revision {migrate.current_revision(current_app)}.")


@db_cli.command("current")
def db_current() -> None:
    """Print the database's revision and whether it is the newest."""
    from portal import migrate

    current = migrate.current_revision(current_app)
    head = migrate.head_revision(current_app)
    state = "up to date" if current == head else f"behind (newest is {head})"
    click.echo(f"{current or 'empty database'}: {state}")


@click.group("demo", cls=AppGroup, invoke_without_command=True)
@click.option("--no-serve", is_flag=True, help="Only create and seed the database.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.pass_context
@with_appcontext
def demo_command(ctx: click.Context, no_serve: bool, host: str, port: int) -> None:
    """Create the SQLite database, load the demo protocol and accounts, then serve.

    `portal demo totp LOGIN` prints the current code of a demo account.
    """
    if ctx.invoked_subcommand is not None:
        return
    from portal import demo, migrate

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["ENV"] == "production":
        raise click.ClickException("portal demo refuses to run with PORTAL_ENV=production.")
    migrate.upgrade(app)
    for line in demo.seed(app):
        click.echo(line)
    if no_serve:
        return
    click.echo(f"Serving on http://{host}:{port} (Ctrl+C to stop).")
    # Flask refuses app.run() inside a CLI command; Werkzeug's server is what it would run.
    from werkzeug.serving import run_simple

    run_simple(host, port, app, use_reloader=False, use_debugger=False, threaded=True)


@demo_command.command("totp")
@click.argument("login")
def demo_totp(login: str) -> None:
    """Print the current second-factor code of the demo account LOGIN (development only)."""
    from portal.accounts.demo import DemoRefused, current_demo_code
    from portal.db import new_session

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        with new_session(app) as session:
            found = current_demo_code(app, session, login)
    except DemoRefused as exc:
        raise click.ClickException(f"portal demo totp refuses: {exc}.") from None
    click.echo(found.code)
    if found.used:
        click.echo(f"This code was already used to log in; the next one comes in "
                   f"{found.seconds_left} s.", err=True)
    else:
        click.echo(f"Valid for {found.seconds_left} more seconds (and the 30 after).", err=True)


def register_commands(app: Flask) -> None:
    """Attach the portal's command groups to the app's CLI."""
    app.cli.add_command(db_cli)
    app.cli.add_command(demo_command)
