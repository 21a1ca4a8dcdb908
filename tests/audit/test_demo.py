"""The demo runs the audit checks once, after every other area has seeded."""

from __future__ import annotations

from sqlalchemy import func, select

from portal import demo
from portal.audit.checks import check_status
from portal.audit.demo import seed_demo
from portal.audit.models import AuditCheckRun, AuditEvent


def test_the_demo_runs_one_audit_check(app, db) -> None:
    assert check_status(db).overdue  # never checked
    lines = seed_demo(app, db)
    db.commit()
    assert len(lines) == 1 and lines[0].startswith("Audit check R")
    status = check_status(db)
    assert not status.overdue and status.last_success is not None
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "audit:check:run")) == 1
    assert seed_demo(app, db) == []
    assert db.scalar(select(func.count()).select_from(AuditCheckRun)) == 1


def test_the_audit_check_is_the_last_seeder(app) -> None:
    with app.app_context():
        seeders = demo._seeders()
    assert seeders[-1] is seed_demo
