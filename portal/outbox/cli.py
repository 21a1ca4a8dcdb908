"""`portal outbox send|status`: run the sender once, or say what waits and what failed."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.db import new_session
from portal.outbox import services

outbox_cli = AppGroup("outbox", help="Outgoing mail: deliver what is due, show the state.")


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


@outbox_cli.command("send")
@click.option("--limit", default=500, show_default=True, help="At most this many messages.")
def send_command(limit: int) -> None:
    """Deliver the messages that are due; exits 1 when an attempt failed."""
    report = services.send_due(_app(), limit=limit)
    click.echo(f"Sent {report.sent}, to retry {report.retried}, given up {report.given_up}, "
               f"held by another sender {report.skipped}.")
    for error in sorted(set(report.errors)):
        click.echo(f"Failure: {error}", err=True)
    if report.retried or report.given_up:
        raise SystemExit(1)


@outbox_cli.command("status")
def status_command() -> None:
    """Count the messages by state; exits 1 when a message was given up."""
    with new_session(_app()) as session:
        state = services.status(session)
        failed = services.problems(session)
    oldest = state.oldest_pending_at.isoformat() if state.oldest_pending_at else "none"
    click.echo(f"Waiting {state.pending} (oldest queued {oldest}), sent {state.sent}, "
               f"given up {state.failed}.")
    for message in failed:
        click.echo(f"  #{message.id} {message.kind} {message.state} after {message.attempts} "
                   f"attempt(s): {message.last_error}")
    if state.failed:
        raise SystemExit(1)
