"""`portal rights`: the DPO's deadline reminders and the retention purge, from the command line."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal.audit.services import cli_actor
from portal.db import new_session

rights_cli = AppGroup("rights", help="Rights requests: deadlines and retention.")


@rights_cli.command("due")
def due_command() -> None:
    """List the open requests by due date, flagged overdue or due within 7 days."""
    from portal.rights.queries import dashboard

    with new_session(current_app) as session:
        rows = dashboard(session)
        if not rows:
            click.echo("No open request.")
        for row in rows:
            flag = {"overdue": "OVERDUE", "due_soon": "due within 7 days"}.get(row.urgency, "")
            click.echo(f"{row.due.isoformat()}  {row.request.number}  {row.request.kind:<13} "
                       f"{row.request.state:<16} {flag}".rstrip())


@rights_cli.command("remind")
def remind_command() -> None:
    """Mail the DPOs the requests due in 7 or 2 days, and the overdue ones (run daily)."""
    from portal.rights.reminders import send_reminders

    with new_session(current_app) as session:
        sent = send_reminders(session, cli_actor())
        session.commit()
    click.echo(f"{sent} reminder(s) queued in the outbox.")


@rights_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def purge_command(dry_run: bool) -> None:
    """Delete the requests kept past RIGHTS_RETENTION_YEARS, with their files (audited)."""
    from portal.rights.retention import expired, purge_expired

    with new_session(current_app) as session:
        if dry_run:
            numbers = [request.number for request in expired(session)]
        else:
            numbers = purge_expired(session, cli_actor())
            session.commit()
    verb = "would be deleted" if dry_run else "deleted"
    click.echo(f"{len(numbers)} request(s) {verb}" + (": " + ", ".join(numbers) if numbers
                                                       else "."))
