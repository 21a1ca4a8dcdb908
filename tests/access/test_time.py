"""Time travel with a frozen clock: expiry, inactivity, overdue reviews (SEC-HAB-1b, 2a, 3a)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import clock
from portal.access import services
from portal.access.models import Category, GrantStatus, Scope
from portal.access.policy import permissions_for
from portal.accounts.models import UserSession
from portal.audit.models import AuditEvent
from portal.errors import BadRequest, Conflict, Forbidden
from portal.permissions import Permission, Role
from tests.access.helpers import (
    CLI,
    FINESS_B,
    grant,
    make_admin,
    make_establishment,
    make_user,
)

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def frozen():  # noqa: ANN201
    """Every test starts on START; the administrators of the fixtures are made then."""
    with clock.frozen(START) as handle:
        yield handle


def test_a_grant_stops_at_its_end_date_plus_one_second(db, frozen) -> None:
    person = make_user(db, last_login_at=START)
    made = grant(db, person, Role.PHARMACOVIGILANCE, days=90)
    frozen.tick(timedelta(days=90))
    assert frozen.at == made.valid_until
    assert Permission.PATIENT_READ in permissions_for(db, person)
    frozen.tick(S)
    # Refused even before the expiry job has run: dates are checked at every request.
    assert permissions_for(db, person) == frozenset()
    report = services.expire(db)
    assert report.expired_grants == [made.id]
    assert made.status == GrantStatus.EXPIRED
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "access:grant:expire")).one()
    assert (event.actor_kind, event.target_ref, event.details["previous"]) == (
        "system", f"G{made.id}", "active")


def test_a_grant_starting_later_gives_nothing_before_its_start(db, frozen) -> None:
    person = make_user(db)
    grant(db, person, Role.MEDICAL_AFFAIRS, Scope.AGGREGATED,
          valid_from=START + timedelta(days=3))
    assert permissions_for(db, person) == frozenset()
    frozen.tick(timedelta(days=3))
    assert Permission.AGGREGATE_READ in permissions_for(db, person)


def test_expiry_is_idempotent(db, frozen) -> None:
    made = grant(db, make_user(db, last_login_at=START), Role.SUPPLY, Scope.AGGREGATED,
                 Category.OTHER, days=10)
    frozen.tick(timedelta(days=11))
    assert services.expire(db).expired_grants == [made.id]
    assert not services.expire(db).changed


def test_an_account_inactive_for_180_days_is_disabled_and_its_sessions_end(db, frozen) -> None:
    sleeper = make_user(db, last_login_at=START)
    never = make_user(db)  # never logged in: counted from its creation
    recent = make_user(db, last_login_at=START + timedelta(days=100))
    db.add(UserSession(id_hash="a" * 64, user_id=sleeper.id, mfa_at=START))
    db.flush()
    frozen.tick(timedelta(days=180))
    assert not services.expire(db).disabled_users
    frozen.tick(S)
    report = services.expire(db)
    assert sorted(report.disabled_users) == sorted([sleeper.id, never.id])
    assert sleeper.disabled_at == START + timedelta(days=180) + S
    assert recent.disabled_at is None
    assert db.get(UserSession, "a" * 64).revoked_at == sleeper.disabled_at
    assert permissions_for(db, sleeper) == frozenset()
    findings = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "access:account:inactive")).all()
    assert {(e.target_ref, e.details["never_logged_in"]) for e in findings} == {
        (f"U{sleeper.id}", False), (f"U{never.id}", True)}
    disabled = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "accounts:user:disable")).all()
    assert {(e.target_ref, e.actor_kind) for e in disabled} == {
        (f"U{sleeper.id}", "system"), (f"U{never.id}", "system")}


def test_the_inactivity_limit_comes_from_the_configuration(app, db, frozen) -> None:
    app.config["ACCESS_INACTIVITY_DAYS"] = 30
    person = make_user(db, last_login_at=START)
    frozen.tick(timedelta(days=31))
    assert services.expire(db).disabled_users == [person.id]


# --- annual review ------------------------------------------------------------------------------

def _long_grant(db, admin, person, role=Role.PHARMACOVIGILANCE):
    """A grant asked for now but starting 100 days later: still valid 395 days on."""
    return grant(db, person, role, actor=admin, valid_from=clock.now() + timedelta(days=100),
                 days=365)


def test_a_grant_not_reviewed_30_days_after_it_fell_due_is_suspended(db, admin, frozen) -> None:
    person = make_user(db)
    made = _long_grant(db, admin, person)
    assert services.review_due_at(made) == START + timedelta(days=365)
    frozen.tick(timedelta(days=365) - S)
    assert services.grants_due_for_review(db) == []
    frozen.tick(S)
    groups = services.grants_due_for_review(db)
    assert [(g.manager, g.grants) for g in groups] == [(admin, [made])]
    person.last_login_at = clock.now()
    frozen.tick(timedelta(days=30) - S)
    services.expire(db)
    assert made.status == GrantStatus.ACTIVE
    frozen.tick(S)  # 395 days without review
    report = services.expire(db)
    assert report.suspended_grants == [made.id]
    assert (made.status, made.suspended_for_review, made.end_reason) == (
        GrantStatus.SUSPENDED, True, "review_overdue")
    assert permissions_for(db, person) == frozenset()
    # Still listed, so that a reviewer can decide on it.
    assert services.grants_due_for_review(db)[0].grants == [made]
    with pytest.raises(Conflict, match="review it"):
        services.reinstate_grant(db, CLI, made)


def test_keeping_an_overdue_grant_reactivates_it_and_restarts_the_year(db, admin, frozen) -> None:
    person = make_user(db)
    made = _long_grant(db, admin, person)
    frozen.tick(timedelta(days=396))
    person.last_login_at = clock.now()
    services.expire(db)
    assert made.status == GrantStatus.SUSPENDED
    # The administrators of a year ago have left; a new one reviews.
    reviewer = make_admin(db, "carla.admin")
    services.review_grant(db, reviewer, made, "keep")
    assert made.status == GrantStatus.ACTIVE
    assert (made.last_reviewed_at, made.last_reviewed_by_id, made.last_review_decision) == (
        clock.now(), reviewer.id, "keep")
    assert Permission.PATIENT_READ in permissions_for(db, person)
    assert services.grants_due_for_review(db) == []
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "access:grant:review")).one()
    assert (event.actor_label, event.details["decision"], event.details["reinstated"]) == (
        "carla.admin", "keep", True)


def test_review_groups_by_manager_with_command_line_grants_last(db, admin, admin2, frozen) -> None:
    a = _long_grant(db, admin, make_user(db))
    b = _long_grant(db, admin2, make_user(db))
    c = grant(db, make_user(db), Role.MEDICAL_AFFAIRS, Scope.AGGREGATED, actor=CLI,
              valid_from=START + timedelta(days=100), days=365)
    frozen.tick(timedelta(days=366))
    groups = services.grants_due_for_review(db)
    assert [(g.manager, g.grants) for g in groups] == [(admin, [a]), (admin2, [b]), (None, [c])]


def test_review_decisions(db, admin, admin2) -> None:
    establishment = make_establishment(db)
    other = make_establishment(db, FINESS_B, "CHU Autre")
    doctor = make_user(db)
    for e in (establishment, other):
        services.add_member(db, CLI, doctor, e)
    made = grant(db, doctor, Role.PRESCRIBER, Scope.IDENTIFYING, actor=admin,
                 establishments=(establishment, other), approver=admin2)
    with pytest.raises(BadRequest, match="keep, change or revoke"):
        services.review_grant(db, admin2, made, "maybe")
    with pytest.raises(BadRequest, match="Nothing was changed"):
        services.review_grant(db, admin2, made, "change")
    with pytest.raises(BadRequest, match="only narrow"):
        services.review_grant(db, admin2, _pv(db, admin), "change", scope=Scope.IDENTIFYING)
    with pytest.raises(BadRequest, match="cannot extend"):
        services.review_grant(db, admin2, made, "change",
                              valid_until=made.valid_until + timedelta(days=1))
    services.review_grant(db, admin2, made, "change", scope=Scope.PSEUDONYMISED,
                          establishments=[establishment])
    assert (made.scope, [e.id for e in made.establishments]) == (
        "pseudonymised", [establishment.id])
    assert services.establishment_ids_for(db, doctor) == {establishment.id}
    services.review_grant(db, admin, made, "revoke")
    assert (made.status, made.end_reason, made.last_review_decision) == (
        GrantStatus.WITHDRAWN, "review", "revoke")
    assert permissions_for(db, doctor) == frozenset()


def _pv(db, admin):
    return grant(db, make_user(db), Role.PHARMACOVIGILANCE, Scope.PSEUDONYMISED, actor=admin)


def test_nobody_reviews_their_own_grant_and_only_reviewers_review(db, admin) -> None:
    own = db.scalars(select(services.AccessGrant).where(
        services.AccessGrant.user_id == admin.id)).one()
    with pytest.raises(Forbidden, match="your own"):
        services.review_grant(db, admin, own, "keep")
    supply = make_user(db)
    grant(db, supply, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER)
    with pytest.raises(Forbidden):
        services.review_grant(db, supply, _pv(db, admin), "keep")
