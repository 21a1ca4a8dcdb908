"""`portal register`: the registers exported on a schedule, and the breach clock's alerts."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from portal.audit.services import cli_actor, record
from portal.db import new_session

register_cli = AppGroup("register", help="Accountability registers: exports and the breach "
                                         "clock.")


@register_cli.command("export")
@click.argument("register", type=click.Choice(["processing", "breaches", "transfers",
                                               "processors", "dpia", "research"]))
@click.option("--format", "fmt", type=click.Choice(["csv", "pdf"]), default="csv",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              required=True, help="The file to write (replaced if it exists).")
def export_command(register: str, fmt: str, output: Path) -> None:
    """Write one register as CSV or PDF."""
    from portal.registers.export import Register, render
    from portal.registers.services import RegisterAction

    with new_session(current_app) as session, current_app.test_request_context("/"), \
            force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "fr")):
        content = render(session, Register(register), fmt)
        try:
            output.write_bytes(content)
        except OSError as exc:
            raise click.ClickException(f"{output}: {exc.strerror}") from None
        record(session, cli_actor(), RegisterAction.EXPORT, ("register", register),
               format=fmt)
        session.commit()
    click.echo(f"{register} register written to {output} ({len(content)} bytes).")


@register_cli.command("clock")
def clock_command() -> None:
    """Raise the 24/48/66-hour alerts of the breaches due (run every few minutes)."""
    from portal.registers.services import raise_clock_alerts

    with new_session(current_app) as session:
        raised = raise_clock_alerts(session, cli_actor())
        session.commit()
    click.echo(f"{len(raised)} alert(s) raised.")
