"""`portal records rebuild-schedules`: recompute the cases' schedule states from their forms."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal.db import new_session

records_cli = AppGroup("records", help="Patients' records: maintenance of derived data.")


@records_cli.command("rebuild-schedules")
@click.option("--missing-only", is_flag=True,
              help="Only the cases with submitted forms and no state yet (after an upgrade).")
@click.option("--operator", default=None, help="Who runs it, for the audit trail.")
def rebuild_schedules_command(missing_only: bool, operator: str | None) -> None:
    """Recompute each case's schedule state (next visit, window, end) from its forms.

    Exits 1 when a case's form failed its integrity check (the case is listed as failed).
    """
    from portal.audit.services import cli_actor
    from portal.records.submissions import rebuild_schedules

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with new_session(app) as session:
        done = rebuild_schedules(session, cli_actor(operator), missing_only=missing_only)
    click.echo(f"Schedule states rebuilt: {done.cases} case(s), {done.failed} failed their "
               f"integrity check, {done.skipped} without a protocol version in force.")
    if done.failed:
        raise SystemExit(1)
