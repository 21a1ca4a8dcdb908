"""The job runner (issue 21): `portal jobs run` runs every duty that is due, each under a
database lock so that several servers running it at once run each duty once.

- duties: the list (the outbox sender, breach clocks, grant expiry, rights reminders and
  purge, retention, audit checks, purge and head, backups), each with its period;
- locks: a PostgreSQL advisory lock, or a lease row on SQLite;
- services: `run_due`, `status`; models: `job_run` (one row per run), `job_lease`;
- cli: `portal jobs run|status`; routes: `/jobs/`, the administrators' page.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the jobs page, its commands and the footer link."""
    from flask_babel import lazy_gettext as _l

    from portal.jobs import models  # noqa: F401 - the tables on the metadata
    from portal.jobs.cli import jobs_cli
    from portal.jobs.routes import bp
    from portal.navigation import NavEntry, add_footer_entry
    from portal.permissions import Permission

    app.register_blueprint(bp)
    app.cli.add_command(jobs_cli)
    add_footer_entry(app, NavEntry("jobs.jobs", _l("Scheduled jobs"), Permission.JOBS_READ))
