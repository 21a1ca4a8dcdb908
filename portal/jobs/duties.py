"""The duties `portal jobs run` runs when they are due, in this order.

Each duty is what operations scheduled one by one before (README, "Operations"): the same
service, or the same command when the command itself does more than one call (the audit
commands anchor the chain head; the backup commands copy and verify). A duty returns whether
it succeeded, its figures and a short summary; an exception is a failure.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click
from flask import Flask
from flask.cli import ScriptInfo
from flask_babel import force_locale

from portal import clock
from portal.access import services as access_services
from portal.audit.services import cli_actor
from portal.db import new_session
from portal.outbox.services import send_due
from portal.registers.services import raise_clock_alerts
from portal.retention.jobs import run as retention_run
from portal.rights.reminders import send_reminders
from portal.rights.retention import purge_expired


@dataclass(frozen=True)
class Outcome:
    """How one run of a duty ended."""

    ok: bool
    counts: dict[str, int]
    summary: str


@dataclass(frozen=True)
class Duty:
    """A job of the runner: run at most once per `every`, late after `every + grace`."""

    name: str
    every: timedelta
    run: Callable[[Flask], Outcome]
    #: what the duty does, for the status and the page
    description: str
    #: how long a SQLite lease lasts (a PostgreSQL advisory lock lasts as long as the run)
    lease: timedelta = timedelta(hours=1)

    @property
    def grace(self) -> timedelta:
        """How long past `every` the duty may wait before it is late (missed runs, a slow
        cron): one more period, at least 15 minutes."""
        return max(self.every, timedelta(minutes=15))


def _command(*path: str) -> Callable[[Flask], Outcome]:
    """Run a `portal` command in-process; its output is the summary, its exit code the
    outcome."""

    def run(app: Flask) -> Outcome:
        group: Any = app.cli
        context = click.Context(group)
        codes: list[int] = []
        out = io.StringIO()
        for line in _split(path):
            command = group
            for name in [word for word in line if not word.startswith("-")]:
                command = command.get_command(context, name)
            args = [word for word in line if word.startswith("-")]
            with redirect_stdout(out), redirect_stderr(out):
                try:
                    code = command.main(args=args, prog_name="portal " + " ".join(line),
                                        standalone_mode=False,
                                        obj=ScriptInfo(create_app=lambda: app))
                except click.ClickException as exc:
                    out.write(f"Error: {exc.format_message()}\n")
                    code = exc.exit_code
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
            codes.append(int(code or 0))
            if codes[-1]:
                break
        return Outcome(all(code == 0 for code in codes), {"exit_code": max(codes)},
                       out.getvalue().strip())

    return run


def _split(path: Sequence[str]) -> list[list[str]]:
    """`("backup create", "backup verify --latest")` → one list of words per command."""
    return [part.split() for part in path]


def _outbox(app: Flask) -> Outcome:
    report = send_due(app)
    return Outcome(True, report.counts,
                   f"Sent {report.sent}, to retry {report.retried}, given up "
                   f"{report.given_up}.")


def _access_expire(app: Flask) -> Outcome:
    with new_session(app) as session, force_locale("en"):
        report = access_services.expire(session, clock.now(), actor=cli_actor("portal jobs"))
        session.commit()
    counts = {"expired_grants": len(report.expired_grants),
              "disabled_accounts": len(report.disabled_users),
              "suspended_grants": len(report.suspended_grants)}
    return Outcome(True, counts, ", ".join(f"{k}: {v}" for k, v in counts.items()))


def _rights_remind(app: Flask) -> Outcome:
    with new_session(app) as session, app.app_context():
        queued = send_reminders(session, cli_actor("portal jobs"))
        session.commit()
    return Outcome(True, {"reminders": queued}, f"{queued} reminder(s) queued.")


def _rights_purge(app: Flask) -> Outcome:
    with new_session(app) as session:
        numbers = purge_expired(session, cli_actor("portal jobs"))
        session.commit()
    return Outcome(True, {"deleted": len(numbers)}, f"{len(numbers)} request(s) deleted.")


def _breach_clocks(app: Flask) -> Outcome:
    with new_session(app) as session, app.app_context():
        raised = raise_clock_alerts(session, cli_actor("portal jobs"))
        session.commit()
    return Outcome(True, {"alerts": len(raised)}, f"{len(raised)} alert(s) raised.")


def _retention(app: Flask) -> Outcome:
    with new_session(app) as session:
        report = retention_run(session, cli_actor("portal jobs"))
    if report.locked:
        return Outcome(False, {}, "Another retention run holds its own lock.")
    return Outcome(True, {"archived": report.archived, "purged": report.purged,
                          "held": report.held, "missing": report.missing},
                   f"Run {report.job_id}: {report.archived} archived, {report.purged} "
                   "purged.")


DAY, HOUR = timedelta(days=1), timedelta(hours=1)

#: every duty, in the order one run of `portal jobs run` takes them
DUTIES: tuple[Duty, ...] = (
    Duty("outbox", timedelta(minutes=1), _outbox, "portal outbox send",
         lease=timedelta(minutes=30)),
    Duty("breach-clocks", timedelta(minutes=15), _breach_clocks, "portal register clock"),
    Duty("access-expire", DAY, _access_expire, "portal access expire"),
    Duty("rights-remind", DAY, _rights_remind, "portal rights remind"),
    Duty("rights-purge", DAY, _rights_purge, "portal rights purge"),
    Duty("retention", DAY, _retention, "portal retention run", lease=timedelta(hours=6)),
    Duty("audit-check", DAY, _command("audit check"), "portal audit check"),
    Duty("audit-purge", DAY, _command("audit purge"), "portal audit purge"),
    Duty("audit-head", HOUR, _command("audit head"), "portal audit head"),
    Duty("backup", DAY, _command("backup create", "backup verify --latest", "backup prune"),
         "portal backup create, verify --latest, prune", lease=timedelta(hours=6)),
)


def duty_named(name: str) -> Duty | None:
    """The duty called `name`, or None."""
    return next((duty for duty in DUTIES if duty.name == name), None)
