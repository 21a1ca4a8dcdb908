"""`portal report ...`: the reporting calendar and the generation of a report's files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

report_cli = AppGroup("report", help="Periodic summary reports to ANSM: calendar and files.")


class _Day(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date written YYYY-MM-DD", param, ctx)


DAY = _Day()
_operator = click.option("--operator", help="Who acts (default: your system login).")


def _report(session, protocol: str, data_lock: date):  # noqa: ANN001, ANN202
    from portal.reports.calendar import report_at

    report = report_at(session, protocol, data_lock)
    if report is None:
        raise click.ClickException(
            f"no report of {protocol} has its data lock on "
            f"{data_lock.isoformat()} (see portal report list)"
        )
    return report


@report_cli.command("list")
@click.option("--protocol", help="Only this protocol's reports.")
def list_command(protocol: str | None) -> None:
    """Print the calendar: each report's interval, data lock, due date and status."""
    from portal import clock
    from portal.db import new_session
    from portal.reports.calendar import reports_of, status_of
    from portal.reports.services import timezone_of

    with new_session(current_app) as session:
        reports = reports_of(session, protocol)
        from zoneinfo import ZoneInfo

        today = clock.now().astimezone(ZoneInfo(timezone_of(session))).date()
        if not reports:
            click.echo(
                "No report planned." + ("" if protocol else " Plan one with portal report plan.")
            )
        for r in reports:
            line = (
                f"{r.protocol_key} #{r.number}: {r.period_start} to {r.data_lock_date}, "
                f"due {r.submission_due_on}, {status_of(r, today).value}"
            )
            if r.submitted_on:
                line += f", submitted {r.submitted_on} ({r.submission_reference})"
            if r.resume_approved_on:
                line += f", résumé approved {r.resume_approved_on} ({r.approval_reference})"
            if r.is_final:
                line += ", final"
            click.echo(line)


@report_cli.command("plan")
@click.argument("protocol")
@click.option("--data-lock", type=DAY, help="Default: the protocol's periodicity.")
@click.option("--start", type=DAY, help="Start of the first report's interval.")
@click.option("--final", is_flag=True, help="This is the protocol's last report.")
@_operator
def plan_command(
    protocol: str, data_lock: date | None, start: date | None, final: bool, operator: str | None
) -> None:
    """Add PROTOCOL's next report to the calendar (periodicity and delay from its definition)."""
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.protocols.services import current_version, loaded
    from portal.reports.calendar import CalendarError, next_period, plan_report, reports_of

    with new_session(current_app) as session:
        version = current_version(session, protocol)
        if version is None:
            raise click.ClickException(f"protocol {protocol} is not installed")
        definition = loaded(version).definition
        rules = definition.summary_reports
        # The first interval starts when the PUT-SP was published, unless told otherwise.
        first = (
            None if reports_of(session, protocol) else (start or definition.ansm.publication_date)
        )
        period = next_period(
            session,
            protocol,
            first_start=first or date.min,
            period_months=rules.periodicity_months,
            submission_delay_months=rules.submission_delay_months,
        )
        try:
            report = plan_report(
                session,
                cli_actor(operator),
                protocol,
                data_lock=data_lock or period.data_lock_date,
                period_start=first or start,
                submission_delay_months=rules.submission_delay_months,
                is_final=final,
            )
        except CalendarError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(
            f"{protocol} #{report.number} planned: {report.period_start} to "
            f"{report.data_lock_date}, due {report.submission_due_on}."
        )


@report_cli.command("submitted")
@click.argument("protocol")
@click.option("--data-lock", type=DAY, required=True)
@click.option("--on", "day", type=DAY, required=True, help="The day it was sent to ANSM.")
@click.option("--reference", required=True, help="The reference of the submission.")
@_operator
def submitted_command(
    protocol: str, data_lock: date, day: date, reference: str, operator: str | None
) -> None:
    """Record that a report was submitted to ANSM."""
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.reports.calendar import CalendarError, record_submission

    with new_session(current_app) as session:
        try:
            record_submission(
                session,
                cli_actor(operator),
                _report(session, protocol, data_lock),
                submitted_on=day,
                reference=reference,
            )
        except CalendarError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(f"Submission recorded on {day}.")


@report_cli.command("approved")
@click.argument("protocol")
@click.option("--data-lock", type=DAY, required=True)
@click.option("--on", "day", type=DAY, required=True, help="The day ANSM approved the résumé.")
@click.option("--reference", required=True, help="The reference of ANSM's approval.")
@_operator
def approved_command(
    protocol: str, data_lock: date, day: date, reference: str, operator: str | None
) -> None:
    """Record ANSM's approval of a report's résumé, then mail the résumé to the prescribers
    and pharmacists linked to the protocol's cases."""
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.reports.calendar import CalendarError, record_approval
    from portal.reports.mailing import MailingError, mail_resume

    actor = cli_actor(operator)
    with new_session(current_app) as session:
        report = _report(session, protocol, data_lock)
        try:
            record_approval(session, actor, report, approved_on=day, reference=reference)
            recipients = mail_resume(session, actor, report)
        except (CalendarError, MailingError) as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(
        f"Approval of the résumé recorded on {day}; résumé mailed to "
        f"{len(recipients)} professional(s)."
    )


@report_cli.command("transmit")
@click.argument("protocol")
@click.option("--data-lock", type=DAY, required=True)
@click.option(
    "--recipient",
    required=True,
    help="A recipient whose certificate is in PORTAL_REPORT_RECIPIENTS_DIR.",
)
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True)
@_operator
def transmit_command(
    protocol: str, data_lock: date, recipient: str, output: Path, operator: str | None
) -> None:
    """Write the report's files, encrypted for RECIPIENT only (.zip.p7m, CMS AES-256)."""
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.reports.services import latest_generation
    from portal.reports.transmission import TransmissionError, transmit

    with new_session(current_app) as session:
        report = _report(session, protocol, data_lock)
        generation = latest_generation(session, report)
        if generation is None:
            raise click.ClickException("generate the report first (portal report generate)")
        try:
            sent = transmit(session, cli_actor(operator), report, generation, recipient, output)
        except TransmissionError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"cannot write into {output}: {exc.strerror}") from None
        session.commit()
    click.echo(
        f"{sent.path} written, readable by {recipient} only "
        f"(certificate SHA-256 {sent.certificate_sha256[:16]}...)."
    )


@report_cli.command("generate")
@click.argument("protocol")
@click.option("--data-lock", type=DAY, required=True, help="The report's data-lock date.")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the PDF, XLSX and CSV files (created).",
)
@_operator
def generate_command(protocol: str, data_lock: date, output: Path, operator: str | None) -> None:
    """Compute PROTOCOL's report locked on DATE and write its files into DIR."""
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.reports.services import ReportError, generate_files

    with new_session(current_app) as session:
        try:
            generated, paths = generate_files(
                session, cli_actor(operator), protocol, data_lock, output
            )
        except ReportError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"cannot write into {output}: {exc.strerror}") from None
        session.commit()
    click.echo(
        f"{protocol} #{generated.report.number} (data lock {data_lock}): "
        f"{generated.generation.submission_count} forms read, fingerprint "
        f"{generated.generation.fingerprint[:16]}."
    )
    if not generated.matches_first:
        click.echo(
            "Warning: the tables differ from the report's first generation (a patient's "
            "data was limited or erased since): send the first one's files.",
            err=True,
        )
    for path in paths:
        click.echo(f"  {path}")
