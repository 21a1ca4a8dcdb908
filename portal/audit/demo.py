"""The demo runs the audit checks once, over everything the other areas seeded.

`portal.demo` calls this seeder last, so that the auditor's pages show a check that has run
(and its alerts, if the demo data raise any) instead of the "never checked" warning. Seeding
again changes nothing once a check has succeeded.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from portal.audit.checks import last_successful_run, run_checks
from portal.audit.services import Actor

_DEMO_ACTOR = Actor("cli", "portal demo")


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Run the audit checks once; return a line saying so, or nothing if they already ran."""
    if last_successful_run(session) is not None:
        return []
    session.flush()
    report = run_checks(session, _DEMO_ACTOR)
    return [f"Audit check R{report.run.id}: {report.findings} finding(s), "
            f"{len(report.new_alerts)} new alert(s)"]
