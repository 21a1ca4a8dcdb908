"""The job runner: each duty once across runners, its runs recorded, late duties reported."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import clock
from portal.jobs import duties as duties_module
from portal.jobs import services
from portal.jobs.duties import DUTIES, Duty, Outcome
from portal.jobs.models import JobLease, JobRun
from portal.outbox.models import OutboxMessage
from portal.outbox.services import enqueue
from portal.permissions import Role
from portal.retention.archive import create_archive_store
from tests.helpers_auth import login, make_user


def _runner_env(app, tmp_path: Path, key_file: Path) -> dict[str, str]:  # noqa: ANN001
    return {
        **os.environ,
        "PORTAL_ENV": "testing",
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_SECRET_KEY": "j" * 48,
        "PORTAL_KEY_FILE": str(key_file),
        "PORTAL_DATABASE_URL": app.config["DATABASE_URL"],
        "PORTAL_MAIL_URL": "",
        "PORTAL_BABEL_DEFAULT_LOCALE": "en",
        clock.TEST_START_VARIABLE: clock.now().isoformat(),
    }


def test_two_runners_started_together_run_each_duty_once(app, db, tmp_path: Path,  # noqa: ANN001
                                                         key_file: Path) -> None:
    create_archive_store(app)  # `portal retention archive-init`, done once at installation
    enqueue(db, "c.martin@example.org", "Subject", "Body", kind="test")
    db.commit()
    env = _runner_env(app, tmp_path, key_file)
    command = [sys.executable, "-m", "portal.cli", "jobs", "run"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    db.expire_all()
    counts = services.run_counts(db)
    assert counts == {duty.name: 1 for duty in DUTIES}, outputs
    runs = db.scalars(select(JobRun)).all()
    assert {(run.job, run.outcome) for run in runs if run.outcome != "success"} == set(), \
        [(run.job, run.summary) for run in runs]
    assert all(run.ended_at is not None for run in runs)
    # Each duty was run by one of the two, and the other said why it did not run it.
    for duty in DUTIES:
        said = [line for output in outputs for line in output.splitlines()
                if line.startswith(f"{duty.name}: ")]
        assert len(said) == 2, outputs
        assert sum(": done" in line or ": FAILED" in line for line in said) == 1, said
    # The outbox duty sent the message, once.
    assert db.scalars(select(OutboxMessage.state)).all() == ["sent"]
    outbox_run = db.scalars(select(JobRun).where(JobRun.job == "outbox")).one()
    assert outbox_run.counts["sent"] == 1


@pytest.fixture
def slow_duty(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One duty that takes a moment and records each time it runs."""
    calls: list[str] = []

    def run(_app) -> Outcome:  # noqa: ANN001
        calls.append(threading.current_thread().name)
        time.sleep(0.5)
        return Outcome(True, {"items": 3}, "three items")

    duty = Duty("slow", timedelta(days=1), run, "a test duty")
    monkeypatch.setattr(duties_module, "DUTIES", (duty,))
    monkeypatch.setattr(services, "DUTIES", (duty,))
    return calls


def test_a_runner_skips_a_duty_another_runner_holds(app, db, slow_duty) -> None:  # noqa: ANN001
    results: dict[str, list[services.RunResult]] = {}

    def runner(name: str) -> None:
        results[name] = services.run_due(app)

    threads = [threading.Thread(target=runner, args=(f"r{n}",), name=f"r{n}") for n in (1, 2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)  # the first one holds the lock when the second one asks
    for thread in threads:
        thread.join(timeout=30)
    assert len(slow_duty) == 1
    assert results["r1"][0].action == "ran" and results["r2"][0].action == "locked"
    run = db.scalars(select(JobRun)).one()
    assert (run.job, run.outcome, run.counts, run.summary) == ("slow", "success",
                                                                {"items": 3}, "three items")
    # Later the same day it is not due; a day later it is.
    assert services.run_due(app)[0].action == "not_due"
    with clock.frozen(clock.now() + timedelta(days=1, minutes=1)):
        assert services.run_due(app)[0].action == "ran"
    assert len(slow_duty) == 2


def test_a_duty_left_running_by_a_dead_runner_is_run_again(app, db, slow_duty) -> None:  # noqa: ANN001
    dead = JobRun(job="slow", started_at=clock.now(), outcome="running", runner="dead:1")
    db.add(dead)
    if db.get_bind().dialect.name == "sqlite":
        # its lease on SQLite, expired (on PostgreSQL the advisory lock died with it)
        db.add(JobLease(job="slow", owner="dead:1", lease_until=clock.now()))
    db.commit()
    with clock.frozen(clock.now() + timedelta(seconds=1)):
        assert services.run_due(app)[0].action == "ran"
    db.expire_all()
    assert db.get(JobRun, dead.id).outcome == "interrupted"
    assert len(slow_duty) == 1


def test_a_failed_duty_is_recorded_and_retried_later(app, db, monkeypatch) -> None:  # noqa: ANN001
    def broken(_app) -> Outcome:  # noqa: ANN001
        raise RuntimeError("disk full")

    duty = Duty("broken", timedelta(days=1), broken, "a failing duty")
    monkeypatch.setattr(services, "DUTIES", (duty,))
    with clock.frozen(clock.now()) as moment:
        (result,) = services.run_due(app)
        assert (result.action, result.ok) == ("ran", False)
        assert services.run_due(app)[0].action == "not_due"  # not again at once
        moment.tick(services.RETRY_AFTER)
        assert services.run_due(app)[0].action == "ran"
    runs = db.scalars(select(JobRun)).all()
    assert [r.outcome for r in runs] == ["failure", "failure"]
    assert "RuntimeError: disk full" in (runs[0].summary or "")


def test_status_exits_non_zero_while_a_duty_is_late(app, db, runner, slow_duty) -> None:  # noqa: ANN001
    result = runner.invoke(args=["jobs", "status"])
    assert result.exit_code == 1 and "slow: every 1 day" in result.output
    assert "never" in result.output and "LATE" in result.output
    assert runner.invoke(args=["jobs", "run"]).exit_code == 0
    result = runner.invoke(args=["jobs", "status"])
    assert result.exit_code == 0, result.output
    with clock.frozen(clock.now() + timedelta(days=2, minutes=1)):
        result = runner.invoke(args=["jobs", "status"])
    assert result.exit_code == 1 and "Late: slow." in result.output


def test_an_unknown_duty_is_named_in_the_error(app, runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["jobs", "run", "--only", "nonsense"])
    assert result.exit_code == 2 and "no duty is called 'nonsense'" in result.output


def test_the_jobs_page_is_for_administrators(app, db, client, slow_duty) -> None:  # noqa: ANN001
    services.run_due(app)
    prescriber = make_user(db, "dr.martin", role=Role.PRESCRIBER)
    login(client, prescriber)
    assert client.get("/jobs/").status_code == 403
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    other = app.test_client()
    login(other, admin)
    page = other.get("/jobs/").get_data(as_text=True)
    assert "slow" in page and "items: 3" in page and "Every job ran on time." in page
