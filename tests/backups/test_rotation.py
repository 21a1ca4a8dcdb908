"""Rotation: which backups `portal backup prune` keeps, and that it deletes only the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal import clock
from portal.backups import services
from portal.backups.models import BackupRun
from tests.backups.helpers import CLI


def _daily(count: int, end: datetime) -> list[datetime]:
    return [end - timedelta(days=n) for n in range(count)]


def test_the_rotation_keeps_7_days_4_weeks_and_12_months():
    end = datetime(2027, 6, 16, 2, 0, tzinfo=UTC)  # a Wednesday
    times = _daily(800, end) + [end - timedelta(hours=1)]  # two on the newest day
    kept = services.choose_kept(times, daily=7, weekly=4, monthly=12)
    days = sorted({t.date() for t in kept}, reverse=True)
    # The newest of each of the last 7 days ...
    assert {end - timedelta(days=n) for n in range(7)} <= kept
    assert end - timedelta(hours=1) not in kept
    # ... of each of the last 4 ISO weeks (Sundays, the newest of their week) ...
    assert {t.isocalendar()[:2] for t in kept} >= {
        (end - timedelta(weeks=n)).isocalendar()[:2] for n in range(4)
    }
    # ... and of each of the last 12 months: the oldest kept is the last day of July 2026.
    assert days[-1].isoformat() == "2026-07-31"
    assert len(kept) <= 7 + 4 + 12


def test_the_rotation_of_few_backups_keeps_them_all():
    end = datetime(2027, 6, 16, 2, 0, tzinfo=UTC)
    times = _daily(3, end)
    assert services.choose_kept(times, 7, 4, 12) == set(times)


def test_prune_deletes_the_files_past_the_rotation_and_marks_them(app, db, tmp_path, runner):
    directory = services.backup_dir(app)
    start = clock.now()
    made = []
    for days in range(40, -1, -1):
        with clock.running_from(start - timedelta(days=days)):
            made.append(services.create_backup(app, CLI).path)
    other = directory / "notes.txt"
    other.write_text("not a backup")

    result = runner.invoke(args=["backup", "prune"])

    assert result.exit_code == 0, result.output
    left = sorted(p.name for p in directory.iterdir())
    kept = [p.name for p in made if p.exists()]
    assert len(kept) < len(made) and "notes.txt" in left
    assert set(made[-7:]) <= {p for p in made if p.exists()}  # the last seven days
    # The oldest is neither among the last days or weeks nor the newest of its month.
    assert not made[0].exists()
    pruned = db.scalars(select(BackupRun.file_name).where(BackupRun.pruned_at.is_not(None)))
    assert sorted(pruned) == sorted(p.name for p in made if not p.exists())
    assert f"Kept {len(kept)} backups, deleted {len(made) - len(kept)}." in result.output
