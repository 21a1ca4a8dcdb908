"""`portal jobs run|status`: run the duties that are due; tell which one is late."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.db import new_session
from portal.jobs import services
from portal.jobs.duties import DUTIES, duty_named

jobs_cli = AppGroup("jobs", help="The job runner: run the duties that are due, show them.")


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


@jobs_cli.command("run")
@click.option("--only", default=None, metavar="DUTY",
              help="Run only this duty (if due): " + ", ".join(d.name for d in DUTIES) + ".")
def run_command(only: str | None) -> None:
    """Run every duty that is due, each once across all servers; exit 1 when one failed."""
    if only is not None and duty_named(only) is None:
        raise click.BadParameter(f"no duty is called {only!r}", param_hint="--only")
    results = services.run_due(_app(), only)
    failed = False
    for result in results:
        if result.action == "ran":
            state = "done" if result.ok else "FAILED"
            failed = failed or not result.ok
            # The last sentence the duty printed (not a line of JSON it printed before).
            lines = [line for line in result.summary.splitlines() if line[:1].isalpha()]
            click.echo(f"{result.job}: {state}. {lines[-1] if lines else ''}".rstrip())
        elif result.action == "locked":
            click.echo(f"{result.job}: running on another server.")
        else:
            click.echo(f"{result.job}: not due.")
    if failed:
        raise SystemExit(1)


@jobs_cli.command("status")
def status_command() -> None:
    """Each duty's last run; exit 1 when a duty is late (for monitoring)."""
    with new_session(_app()) as session:
        found = services.status(session)
    late = [entry.duty.name for entry in found if entry.late]
    for entry in found:
        last = entry.last_success.started_at.isoformat() if entry.last_success else "never"
        tail = f", last run {entry.last.outcome}" if entry.last else ""
        click.echo(f"{entry.duty.name}: every {entry.duty.every}, last success {last}{tail}"
                   f"{' LATE' if entry.late else ''}")
    if late:
        click.echo(f"Late: {', '.join(late)}.", err=True)
        raise SystemExit(1)
