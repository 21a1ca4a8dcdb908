"""Automatic checks (SEC-JOU-4): each rule raises one alert on seeded data and none otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.access import services as access
from portal.access.models import Category, Scope
from portal.accounts.models import User
from portal.audit import rules
from portal.audit.checks import check_status, checks_overdue, run_checks
from portal.audit.models import AuditAlert, AuditCheckRun
from portal.audit.services import record
from portal.permissions import Role
from tests.access.helpers import grant, make_user
from tests.audit.helpers import CLI, actions, tamper

#: a Tuesday morning in Paris (10:00 local, winter time)
DAY = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def reader(db: Session) -> User:
    """A pharmacovigilance reader whose grant covers all of 2026."""
    with clock.frozen(datetime(2026, 1, 2, 8, 0, tzinfo=UTC)):
        person = make_user(db, "rita.reader")
        grant(db, person, Role.PHARMACOVIGILANCE, Scope.PSEUDONYMISED, Category.HEALTH,
              days=364)
    db.commit()
    return person


def reads(db: Session, user: User, start: datetime, patients: list[str],
          every: timedelta, action: str = "records:patient:read") -> None:
    """`user` reads each patient in turn, one every `every` from `start`."""
    with clock.frozen(start) as frozen:
        for patient in patients:
            record(db, user, action, ("patient", patient))
            frozen.tick(every)
    db.commit()


def patients(n: int, prefix: str = "P") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def check(db: Session) -> list[AuditAlert]:
    """Run every rule and return all the alerts there are."""
    run_checks(db, CLI)
    db.commit()
    return list(db.scalars(select(AuditAlert).order_by(AuditAlert.id)))


def only(alerts: list[AuditAlert], rule: str) -> AuditAlert:
    assert [a.rule for a in alerts] == [rule], [(a.rule, a.subject) for a in alerts]
    return alerts[0]


# --- normal activity ------------------------------------------------------------------------------


def test_normal_activity_raises_no_alert(app: Flask, db: Session, reader: User) -> None:
    reads(db, reader, DAY, patients(50), timedelta(seconds=60))  # 50 patients in an hour
    reads(db, reader, DAY + timedelta(hours=2), patients(10) * 6, timedelta(seconds=30))
    reads(db, reader, DAY + timedelta(hours=4), patients(51, "Q"), timedelta(seconds=150))
    with clock.frozen(DAY + timedelta(hours=5)):
        for patient in patients(51, "D"):  # refused: nothing was read
            record(db, reader, "records:patient:read", ("patient", patient), outcome="denied")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "192.0.2.10"}):
        with clock.frozen(DAY + timedelta(hours=6)) as frozen:
            for _ in range(10):  # ten failures in 15 minutes: not more than ten
                record(db, None, "accounts:login:failure", reader, outcome="failure")
                frozen.tick(timedelta(minutes=1))
            for _ in range(3):
                record(db, reader, "records:patients:export", row_count=100)
                frozen.tick(timedelta(minutes=5))
    db.commit()

    assert check(db) == []
    run = db.scalars(select(AuditCheckRun)).one()
    assert run.succeeded and run.new_alerts == 0 and run.checked_from is None
    assert actions(db)[-1] == "audit:check:run"


def test_the_rules_use_the_action_names_of_the_other_areas() -> None:
    """If an area renames an action the rules count on, this fails rather than the rule."""
    from portal.accounts.actions import AccountAction
    from portal.audit.actions import (
        FAILED_AUTH_ACTIONS,
        GRANT_FREE_PREFIXES,
        PATIENT_READ_ACTION,
        SUBMISSION_READ_ACTION,
    )

    assert set(FAILED_AUTH_ACTIONS) <= set(AccountAction)
    for action in (AccountAction.LOGIN_SUCCESS, AccountAction.LOGOUT,
                   AccountAction.PASSWORD_CHANGE, AccountAction.TOTP_ENROL):
        assert action.startswith(GRANT_FREE_PREFIXES), action
    RecordsAction = pytest.importorskip("portal.records.actions").RecordsAction  # noqa: N806
    assert {PATIENT_READ_ACTION, SUBMISSION_READ_ACTION} <= set(RecordsAction)
    assert RecordsAction.DATA_EXPORT.endswith(rules.EXPORT_SUFFIX)
    from portal.audit.actions import DATA_EXPORT_ACTIONS
    from portal.reports.services import ReportAction

    assert set(DATA_EXPORT_ACTIONS) <= {RecordsAction.DATA_EXPORT, *ReportAction}


# --- one person reading many patients -------------------------------------------------------------


def test_more_than_50_patients_within_an_hour(db: Session, reader: User) -> None:
    reads(db, reader, DAY, patients(51), timedelta(seconds=70))
    alert = only(check(db), rules.PATIENTS_PER_HOUR)
    assert (alert.subject, alert.actor_id, alert.actor_label) == (f"U{reader.id}", reader.id,
                                                                   "rita.reader")
    assert alert.count == 51
    assert alert.first_at == DAY and alert.last_at == DAY + timedelta(seconds=70 * 50)
    assert alert.seq_to - alert.seq_from == 50
    assert "audit:alert:raise" in actions(db)


def test_submission_reads_count_their_patient(db: Session, reader: User) -> None:
    with clock.frozen(DAY) as frozen:
        for patient in patients(51):
            record(db, reader, "records:submission:read", ("submission", f"S-{patient}"),
                   patient=patient)
            frozen.tick(timedelta(seconds=30))
    db.commit()
    assert only(check(db), rules.PATIENTS_PER_HOUR).count == 51


def check_at(db: Session, moment: datetime) -> list[AuditAlert]:
    """Run the checks as they would run at `moment`."""
    with clock.frozen(moment):
        return check(db)


def test_running_the_checks_again_raises_no_duplicate(db: Session, reader: User) -> None:
    reads(db, reader, DAY, patients(60), timedelta(seconds=30))  # until DAY + 30 min
    first = only(check_at(db, DAY + timedelta(minutes=31)), rules.PATIENTS_PER_HOUR)
    assert check_at(db, DAY + timedelta(minutes=32)) == [first]
    # The same burst goes on after the check: the alert grows, no second alert.
    reads(db, reader, DAY + timedelta(minutes=33), patients(20, "R"), timedelta(seconds=10))
    assert check_at(db, DAY + timedelta(minutes=40)) == [first]
    db.refresh(first)
    assert first.updated_at == DAY + timedelta(minutes=40) and first.count == 80
    # A new burst later that day is a new finding.
    reads(db, reader, DAY + timedelta(hours=3), patients(55, "S"), timedelta(seconds=20))
    alerts = check_at(db, DAY + timedelta(hours=4))
    assert [a.rule for a in alerts] == [rules.PATIENTS_PER_HOUR] * 2
    assert check(db) == alerts


def test_entries_written_with_a_clock_set_back_are_still_examined(
    db: Session, reader: User
) -> None:
    check_at(db, DAY + timedelta(days=30))
    # Written after that run, but stamped a month earlier (a clock set back).
    reads(db, reader, DAY, patients(51), timedelta(seconds=30))
    only(check_at(db, DAY + timedelta(days=31)), rules.PATIENTS_PER_HOUR)


# --- access outside a valid grant -----------------------------------------------------------------


def test_activity_without_any_grant(db: Session) -> None:
    stranger = make_user(db, "sam.nogrant")
    db.commit()
    reads(db, stranger, DAY, ["P001", "P002"], timedelta(minutes=1))
    alert = only(check(db), rules.OUTSIDE_GRANT)
    assert (alert.subject, alert.count) == (f"U{stranger.id}", 2)
    assert alert.details == {"first_action": "records:patient:read"}


def test_activity_before_the_grant_and_after_its_withdrawal(db: Session) -> None:
    person = make_user(db, "tom.timing")
    with clock.frozen(DAY):
        made = grant(db, person, Role.MEDICAL_AFFAIRS, valid_from=DAY + timedelta(days=1),
                     days=30)
    db.commit()
    reads(db, person, DAY + timedelta(hours=1), ["P001"], timedelta(minutes=1))  # too early
    reads(db, person, DAY + timedelta(days=2), ["P002"], timedelta(minutes=1))  # fine
    with clock.frozen(DAY + timedelta(days=3)):
        access.withdraw_grant(db, CLI, made, "no_longer_needed")
    db.commit()
    reads(db, person, DAY + timedelta(days=4), ["P003"], timedelta(minutes=1))  # too late
    alerts = check(db)
    assert [a.rule for a in alerts] == [rules.OUTSIDE_GRANT] * 2
    assert [a.first_at for a in alerts] == [DAY + timedelta(hours=1), DAY + timedelta(days=4)]


def test_logging_in_needs_no_grant(db: Session) -> None:
    person = make_user(db, "una.login")
    db.commit()
    with clock.frozen(DAY):
        record(db, person, "accounts:login:success", person)
        record(db, person, "accounts:session:logout", person)
        record(db, person, "records:patient:read", ("patient", "P1"), outcome="denied")
    db.commit()
    assert check(db) == []


# --- activity at night ----------------------------------------------------------------------------


def test_activity_at_night_local_time(db: Session, reader: User) -> None:
    # 23:30 and 01:00 in Paris (UTC+1 in winter): one night, one alert.
    reads(db, reader, datetime(2026, 1, 20, 22, 30, tzinfo=UTC), ["P001"], timedelta(0))
    reads(db, reader, datetime(2026, 1, 21, 0, 0, tzinfo=UTC), ["P002"], timedelta(0))
    alert = only(check(db), rules.NIGHT_ACTIVITY)
    assert alert.subject == f"U{reader.id} 2026-01-20"
    assert alert.count == 2
    assert alert.details["timezone"] == "Europe/Paris"


def test_night_follows_summer_time(db: Session, reader: User) -> None:
    reads(db, reader, datetime(2026, 1, 20, 20, 30, tzinfo=UTC), ["P001"], timedelta(0))  # 21:30
    reads(db, reader, datetime(2026, 7, 7, 20, 30, tzinfo=UTC), ["P002"], timedelta(0))  # 22:30
    reads(db, reader, datetime(2026, 7, 8, 4, 30, tzinfo=UTC), ["P003"], timedelta(0))  # 06:30
    alert = only(check(db), rules.NIGHT_ACTIVITY)
    assert alert.subject == f"U{reader.id} 2026-07-07" and alert.count == 1


def test_night_jobs_of_the_operator_are_not_flagged(db: Session) -> None:
    with clock.frozen(datetime(2026, 1, 20, 23, 0, tzinfo=UTC)):
        record(db, CLI, "records:patient:read", ("patient", "P1"))
    db.commit()
    assert check(db) == []


def test_a_night_seen_by_two_runs_is_one_alert(db: Session, reader: User) -> None:
    night = datetime(2026, 1, 20, 22, 30, tzinfo=UTC)
    reads(db, reader, night, ["P001"], timedelta(0))
    with clock.frozen(night + timedelta(minutes=5)):
        first = only(check(db), rules.NIGHT_ACTIVITY)
    reads(db, reader, night + timedelta(hours=2), ["P002"], timedelta(0))
    with clock.frozen(night + timedelta(hours=3)):
        assert check(db) == [first]
    db.refresh(first)
    assert first.count == 2


# --- failed logins and replayed codes -------------------------------------------------------------


def _failures(app: Flask, db: Session, count: int, every: timedelta, *, target: object = None,
              action: str = "accounts:login:failure", address: str = "203.0.113.9") -> None:
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
        with clock.frozen(DAY) as frozen:
            for _ in range(count):
                record(db, None, action, target, outcome="failure")
                frozen.tick(every)
    db.commit()


def test_a_burst_of_failures_on_one_account(app: Flask, db: Session, reader: User) -> None:
    _failures(app, db, 11, timedelta(minutes=1), target=reader)
    alert = only(check(db), rules.FAILED_AUTH)
    assert (alert.subject, alert.target_ref, alert.count) == (
        f"account U{reader.id}", f"U{reader.id}", 11)


def test_replayed_codes_count_as_failures(app: Flask, db: Session, reader: User) -> None:
    _failures(app, db, 6, timedelta(seconds=30), target=reader, action="accounts:totp:replay")
    _failures(app, db, 5, timedelta(seconds=30), target=reader, action="accounts:totp:failure")
    assert only(check(db), rules.FAILED_AUTH).count == 11


def test_a_burst_from_one_address_across_unknown_logins(app: Flask, db: Session) -> None:
    _failures(app, db, 12, timedelta(seconds=20), address="198.51.100.23")
    alert = only(check(db), rules.FAILED_AUTH)
    assert alert.subject == "address 198.51.100.23"
    assert alert.details["per"] == "address"


def test_failures_spread_over_hours_are_not_a_burst(app: Flask, db: Session, reader: User) -> None:
    _failures(app, db, 11, timedelta(minutes=20), target=reader)
    assert check(db) == []


# --- mass exports ---------------------------------------------------------------------------------


def test_one_export_of_many_rows(db: Session, reader: User) -> None:
    with clock.frozen(DAY):
        record(db, reader, "records:patients:export", row_count=5000)
    db.commit()
    alert = only(check(db), rules.MASS_EXPORT)
    assert (alert.count, alert.details["kind"]) == (5000, "rows")


def test_many_exports_in_a_short_time(db: Session, reader: User) -> None:
    with clock.frozen(DAY) as frozen:
        for _ in range(6):
            record(db, reader, "records:patients:export", row_count=10)
            frozen.tick(timedelta(minutes=5))
    db.commit()
    alert = only(check(db), rules.MASS_EXPORT)
    assert (alert.count, alert.details["kind"]) == (6, "count")


def test_a_large_export_inside_a_burst_is_one_alert(db: Session, reader: User) -> None:
    with clock.frozen(DAY) as frozen:
        for rows in (10, 10, 20000, 10, 10, 10):
            record(db, reader, "records:patients:export", row_count=rows)
            frozen.tick(timedelta(minutes=5))
    db.commit()
    only(check(db), rules.MASS_EXPORT)


def test_exports_for_research_an_authority_or_no_listed_purpose(db: Session, reader: User) -> None:
    with clock.frozen(DAY) as frozen:
        for purpose in ("pharmacovigilance", "summary_report", "data_quality", "research",
                        "authority_request", "curiosity", None):
            details = {"row_count": 10} | ({"purpose": purpose} if purpose else {})
            record(db, reader, "records:data:export", ("protocol", "p1"), **details)
            frozen.tick(timedelta(minutes=20))
        record(db, reader, "access:review:export", row_count=3)  # not patient data
    db.commit()
    alerts = check(db)
    assert {a.rule for a in alerts} == {rules.EXPORT_PURPOSE}
    assert sorted((a.details["kind"], a.details["purpose"]) for a in alerts) == [
        ("missing", ""), ("unknown", "curiosity"), ("unusual", "authority_request"),
        ("unusual", "research")]


# --- broken chain ---------------------------------------------------------------------------------


def test_a_broken_chain_raises_one_alert(db: Session, reader: User) -> None:
    reads(db, reader, DAY, patients(5), timedelta(minutes=1))
    assert check(db) == []
    tamper(db, ["UPDATE audit_event SET target_ref = 'P999' WHERE seq = 4"])
    alert = only(check(db), rules.BROKEN_CHAIN)
    assert (alert.seq_from, alert.details["kind"]) == (4, "modified")
    assert check(db) == [alert]


# --- when the checks last ran ---------------------------------------------------------------------


def test_the_last_successful_check_must_be_under_60_days_old(db: Session) -> None:
    assert checks_overdue(db) and check_status(db).last_success is None
    with clock.frozen(DAY):
        run_checks(db, CLI)
        db.commit()
        status = check_status(db)
    assert not status.overdue and status.age_days == 0 and status.last_success == DAY
    with clock.frozen(DAY + timedelta(days=60)):
        assert not checks_overdue(db)
    with clock.frozen(DAY + timedelta(days=60, seconds=1)):
        assert checks_overdue(db)


def test_a_later_run_only_rereads_the_overlap(db: Session, reader: User) -> None:
    run_checks(db, CLI)
    db.commit()
    with clock.frozen(clock.now() + timedelta(days=2)):
        report = run_checks(db, CLI)
    assert report.run.checked_from is not None
    previous: Iterator[AuditCheckRun] = iter(db.scalars(
        select(AuditCheckRun).order_by(AuditCheckRun.id)))
    first = next(previous)
    assert report.run.checked_from == first.checked_until - timedelta(hours=24)
