"""Retention (SEC-JOU-1c): old entries go, a checkpoint keeps the rest verifiable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.models import AuditCheckpoint, AuditEvent
from portal.audit.purge import RetentionError, purge
from portal.audit.verify import CHECKPOINT, DELETED, verify
from tests.audit.helpers import CLI, entries, tamper, write_entries


def _days_ago(days: int):  # noqa: ANN202
    return clock.now() - timedelta(days=days)


def _checkpoints(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0


def test_entries_past_the_retention_go_and_the_rest_still_verifies(db: Session) -> None:
    """The security checklist's vector: rows at -366 and -180 days, purge at 365 days."""
    write_entries(db, 3, at=_days_ago(366), action="records:patient:read")
    write_entries(db, 2, at=_days_ago(180), action="records:submission:read")
    result = purge(db, CLI, 365)
    db.commit()

    assert (result.deleted, result.up_to_seq) == (3, 3)
    rows = entries(db)
    assert [e.seq for e in rows] == [4, 5, 6]
    assert [e.action for e in rows] == ["records:submission:read"] * 2 + ["audit:trail:purge"]
    assert rows[-1].details == {"retention_days": 365, "deleted": 3, "up_to_seq": 3}
    assert rows[-1].actor_label == CLI.label
    outcome = verify(db)
    assert outcome.ok, outcome.problem
    assert (outcome.checkpoint_seq, outcome.count) == (3, 3)


def test_a_shorter_retention_keeps_only_the_recent_entries(db: Session) -> None:
    write_entries(db, 2, at=_days_ago(300))
    write_entries(db, 2, at=_days_ago(100))
    assert purge(db, CLI, 183).deleted == 2
    db.commit()
    assert verify(db).ok


def test_the_setting_gives_the_default_retention(app, db: Session) -> None:  # noqa: ANN001
    app.config["AUDIT_RETENTION_DAYS"] = 200
    write_entries(db, 2, at=_days_ago(250))
    write_entries(db, 1, at=_days_ago(150))
    result = purge(db, CLI)
    db.commit()
    assert (result.retention_days, result.deleted) == (200, 2)


@pytest.mark.parametrize("days", [182, 366, 0, -5, 1000, "abc", 200.5, None])
def test_a_retention_outside_six_months_to_a_year_is_refused(db: Session, days: object) -> None:
    write_entries(db, 2, at=_days_ago(400))
    if days is None:
        db.info["portal.app"].config["AUDIT_RETENTION_DAYS"] = 90
    with pytest.raises(RetentionError, match="between 183 and 365|number of days"):
        purge(db, CLI, days)  # type: ignore[arg-type]
    db.rollback()
    assert len(entries(db)) == 2
    assert _checkpoints(db) == 0


def test_nothing_to_purge_still_leaves_a_trace(db: Session) -> None:
    write_entries(db, 2)
    result = purge(db, CLI, 365)
    db.commit()
    assert (result.deleted, result.checkpoint) == (0, None)
    assert [e.action for e in entries(db)][-1] == "audit:trail:purge"
    assert _checkpoints(db) == 0 and verify(db).ok


def test_successive_purges_chain_their_checkpoints(db: Session) -> None:
    write_entries(db, 2, at=_days_ago(500))
    write_entries(db, 2, at=_days_ago(300))
    purge(db, CLI, 365)
    db.commit()
    with clock.frozen(clock.now() + timedelta(days=100)):
        purge(db, CLI, 365)
        db.commit()
        outcome = verify(db)
    assert outcome.ok, outcome.problem
    assert outcome.checkpoint_seq == 4  # the second purge took the entries of -300 days
    assert _checkpoints(db) == 2


def test_everything_older_than_the_retention_can_go(db: Session) -> None:
    write_entries(db, 4, at=_days_ago(400))
    assert purge(db, CLI, 365).deleted == 4
    db.commit()
    assert [e.seq for e in entries(db)] == [5]
    assert verify(db).ok


def test_a_forged_checkpoint_is_reported(db: Session) -> None:
    write_entries(db, 3, at=_days_ago(400))
    write_entries(db, 1)
    purge(db, CLI, 365)
    db.commit()
    tamper(db, ["UPDATE audit_checkpoint SET deleted = 1"])
    problem = verify(db).problem
    assert problem is not None and (problem.seq, problem.kind) == (3, CHECKPOINT)


def test_deleting_old_entries_behind_the_purge_is_reported(db: Session) -> None:
    write_entries(db, 3, at=_days_ago(400))
    write_entries(db, 2)
    tamper(db, ["DELETE FROM audit_event WHERE seq <= 3"])
    problem = verify(db).problem
    assert problem is not None and (problem.seq, problem.kind) == (1, DELETED)


def test_removing_the_latest_checkpoint_is_reported(db: Session) -> None:
    write_entries(db, 2, at=_days_ago(500))
    write_entries(db, 2, at=_days_ago(300))
    purge(db, CLI, 365)
    db.commit()
    with clock.frozen(clock.now() + timedelta(days=100)):
        purge(db, CLI, 365)
        db.commit()
    tamper(db, ["DELETE FROM audit_checkpoint WHERE seq = 4"])
    problem = verify(db).problem
    assert problem is not None and (problem.seq, problem.kind) == (3, DELETED)
    assert db.scalar(select(func.min(AuditEvent.seq))) == 5
