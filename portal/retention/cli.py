"""`portal retention`: the plan, the daily run, dated evidence, legal holds and the ledger."""

from __future__ import annotations

import sys
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from portal.audit.services import cli_actor
from portal.db import new_session

retention_cli = AppGroup("retention", help="Retention of cases: active base, archive, purge.")


def _day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _case(session, case_number: str):  # noqa: ANN001, ANN202
    from portal.records.models import Patient
    from portal.retention.services import case_of

    patient = session.scalar(select(Patient).where(Patient.case_number == case_number.strip()))
    if patient is None:
        raise click.ClickException(f"no patient with case number {case_number!r} in the "
                                   "active base")
    return case_of(session, patient)


@retention_cli.command("plan")
@click.option("--at", "at", callback=_day, help="The day to plan for (default: today).")
def plan_command(at: date | None) -> None:
    """List what would move, and why, on a day; changes nothing."""
    from portal.retention.services import local_today, plan

    with new_session(current_app) as session:
        on = at or local_today(session)
        items = plan(session, on)
        moving = [i for i in items if i.decision.action in ("archive", "purge")]
        click.echo(f"On {on.isoformat()}: {len(moving)} case(s) would move.")
        for item in items:
            d = item.decision
            due = (f"archive {d.archive_due.isoformat() if d.archive_due else '-'}, "
                   f"purge {d.purge_due.isoformat() if d.purge_due else '-'}")
            if d.action in ("archive", "purge"):
                click.echo(f"  {item.case.reference}  {item.case.state} -> "
                           f"{'archived' if d.action == 'archive' else 'purged'}  "
                           f"rule {d.rule}  ({due})")
            else:
                click.echo(f"  {item.case.reference}  {item.case.state} stays: "
                           f"{d.note}" + (f" ({due})" if d.archive_due else ""))


@retention_cli.command("run")
@click.option("--status", is_flag=True,
              help="Only report; exit 1 when no run succeeded within RETENTION_RUN_MAX_AGE_DAYS.")
@click.option("--operator", default=None, help="Who runs it (default: your system login).")
def run_command(status: bool, operator: str | None) -> None:
    """Apply the transitions due today (idempotent, resumable, one run at a time)."""
    from portal.retention.jobs import run, run_status

    with new_session(current_app) as session:
        if status:
            found = run_status(session)
            last = found.last_success
            if last is None:
                click.echo("No retention run has succeeded yet.")
            else:
                click.echo(f"Last successful run {last.job_id} finished "
                           f"{last.finished_at.isoformat() if last.finished_at else '?'}: "
                           f"{last.archived} archived, {last.purged} purged.")
            if found.last is not None and found.last.outcome == "failed":
                click.echo(f"The latest run {found.last.job_id} failed ({found.last.error}).")
            if found.overdue:
                click.echo(f"OVERDUE: no run succeeded within {found.max_age_days} days.",
                           err=True)
                sys.exit(1)
            return
        report = run(session, cli_actor(operator))
    if report.locked:
        click.echo("Another retention run holds the lock; nothing done by this one.")
        return
    click.echo(f"Run {report.job_id}: {report.archived} archived, {report.purged} purged, "
               f"{report.held} purge(s) postponed by a legal hold, {report.missing} case(s) "
               "without dated AAC evidence.")


@retention_cli.command("aac")
@click.argument("case_number")
@click.argument("kind", type=click.Choice(["granted", "renewed", "suspended", "withdrawn"]))
@click.argument("decision_date", callback=_day)
@click.option("--end", "end", callback=_day, help="Last day of a granted or renewed period.")
@click.option("--evidence", required=True, help="The ANSM decision or letter reference.")
@click.option("--operator", default=None)
def aac_command(case_number: str, kind: str, decision_date: date, end: date | None,
                evidence: str, operator: str | None) -> None:
    """Record an ANSM decision on a patient's AAC, with its evidence."""
    from portal.retention.services import RetentionError, record_aac_decision

    with new_session(current_app) as session:
        case = _case(session, case_number)
        try:
            record_aac_decision(session, cli_actor(operator), case, kind, decision_date, end,
                                evidence)
        except RetentionError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(f"Recorded: {kind} on {decision_date.isoformat()}.")


@retention_cli.command("hold")
@click.argument("case_number")
@click.option("--reason", type=click.Choice(["litigation", "authority_request"]), required=True)
@click.option("--evidence", required=True, help="The document behind the hold.")
@click.option("--operator", default=None)
def hold_command(case_number: str, reason: str, evidence: str, operator: str | None) -> None:
    """Put a case of the active base on legal hold: its purge waits until the release."""
    from portal.retention.services import RetentionError, open_hold

    with new_session(current_app) as session:
        case = _case(session, case_number)
        try:
            open_hold(session, cli_actor(operator), case, reason, evidence)
        except RetentionError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo("Legal hold opened.")


@retention_cli.command("ledger")
def ledger_command() -> None:
    """List the purge ledger: opaque reference, date and rule of every purged case."""
    from portal.retention.services import purge_ledger

    with new_session(current_app) as session:
        entries = purge_ledger(session)
        click.echo(f"{len(entries)} purged case(s).")
        for entry in entries:
            click.echo(f"  {entry.reference}  {entry.purged_at.date().isoformat()}  {entry.rule}"
                       f"  from {entry.from_state}")


@retention_cli.command("reapply-ledger")
@click.option("--operator", default=None)
def reapply_command(operator: str | None) -> None:
    """After a restore from an older backup: purge again every case of the ledger still here."""
    from portal.retention.services import reapply_purge_ledger

    with new_session(current_app) as session:
        purged = reapply_purge_ledger(session, cli_actor(operator))
        session.commit()
    click.echo(f"{len(purged)} case(s) purged again from the ledger.")


@retention_cli.command("archive-init")
def archive_init_command() -> None:
    """Create the archive store's tables (on PostgreSQL, run it as the archive's role)."""
    from portal.retention.archive import create_archive_store

    create_archive_store(current_app)
    click.echo("Archive store ready.")
