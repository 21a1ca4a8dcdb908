"""Grant rules of section 8 and SEC-HAB-1b/3b: limits, motivation, perimeter, maker-checker."""

from __future__ import annotations

import hashlib
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
    healthcare_person,
    make_establishment,
    make_user,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():  # noqa: ANN202
    with clock.frozen(NOW) as frozen:
        yield frozen


def audit_actions(db) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


# --- establishments ----------------------------------------------------------------------------

@pytest.mark.parametrize("finess", ["750712185", "75071218", "7507121844", "ABCDEFGHI", ""])
def test_an_invalid_finess_number_is_refused(db, finess) -> None:
    with pytest.raises(BadRequest, match="FINESS"):
        services.create_establishment(db, CLI, finess, "Hôpital")


def test_an_establishment_is_created_once_and_audited(db) -> None:
    made = services.create_establishment(db, CLI, " 75 071 218 4 ", "Hôpital Exemple", "Paris")
    assert made.finess == "750712184"
    with pytest.raises(Conflict):
        services.create_establishment(db, CLI, "750712184", "Hôpital bis")
    event = db.scalars(select(AuditEvent)).one()
    assert (event.action, event.target_ref, event.actor_label) == (
        "access:establishment:create", "E750712184", "tester")


def test_someone_without_the_grant_permission_cannot_create_an_establishment(db) -> None:
    nobody = make_user(db)
    with pytest.raises(Forbidden):
        services.create_establishment(db, nobody, "750712184", "Hôpital")


def test_membership_is_added_once_and_removed_only_without_covering_grant(
        db, admin, admin2, establishment) -> None:
    person = healthcare_person(db, Role.PRESCRIBER, establishment, approver=admin2)
    with pytest.raises(Conflict):
        services.add_member(db, admin, person, establishment)
    with pytest.raises(Conflict, match="Withdraw the grants"):
        services.remove_member(db, admin, person, establishment)
    for g in services.grants_of(db, person):
        services.withdraw_grant(db, admin, g, "role_changed")
    services.remove_member(db, admin, person, establishment)
    assert services.memberships_of(db, person) == []


# --- length of grants ---------------------------------------------------------------------------

def test_a_grant_of_exactly_365_days_is_accepted(db, admin) -> None:
    person = make_user(db)
    made = services.request_grant(db, admin, services.GrantRequest(
        person, Role.MEDICAL_AFFAIRS, Scope.AGGREGATED, Category.HEALTH, NOW,
        NOW + timedelta(days=365),
    ))
    assert made.status == GrantStatus.ACTIVE
    assert Permission.AGGREGATE_READ in permissions_for(db, person)


@pytest.mark.parametrize("until", [NOW + timedelta(days=365, seconds=1),
                                   NOW + timedelta(days=400), None])
def test_a_grant_longer_than_365_days_or_without_end_is_refused(db, admin, until) -> None:
    person = make_user(db)
    with pytest.raises(BadRequest, match="365 days|end date is mandatory"):
        services.request_grant(db, admin, services.GrantRequest(
            person, Role.MEDICAL_AFFAIRS, Scope.AGGREGATED, Category.HEALTH, NOW, until,
        ))
    assert services.grants_of(db, person) == []


def test_an_end_in_the_past_or_before_the_start_is_refused(db, admin) -> None:
    person = make_user(db)
    with pytest.raises(BadRequest, match="already past"):
        services.request_grant(db, admin, services.GrantRequest(
            person, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER, NOW - timedelta(days=10),
            NOW - timedelta(days=1),
        ))
    with pytest.raises(BadRequest, match="after the start"):
        services.request_grant(db, admin, services.GrantRequest(
            person, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER, NOW + timedelta(days=10),
            NOW + timedelta(days=5),
        ))


def test_one_request_value_is_checked_and_refused_with_every_rule_it_breaks(db, admin) -> None:
    wanted = services.GrantRequest(
        make_user(db), Role.PRESCRIBER, Scope.IDENTIFYING, Category.HEALTH, NOW,
        NOW + timedelta(days=400), motivation="  internal_procedures ", protocol_key="  ",
    )
    problems = services.grant_problems(db, admin, wanted)
    assert [field for field, _message in problems] == [
        "valid_until", "motivation", "establishments"]
    with pytest.raises(services.GrantRefused) as refused:
        services.request_grant(db, admin, wanted)
    assert refused.value.problems == problems
    assert services.grants_of(db, wanted.user) == []
    normalised = wanted.normalised()
    assert normalised.role is Role.PRESCRIBER and normalised.motivation == "internal_procedures"
    assert normalised.protocol_key is None


def test_an_unknown_role_is_a_clear_refusal(db, admin) -> None:
    wanted = services.GrantRequest(make_user(db), "superuser", Scope.AGGREGATED, Category.OTHER,
                                   NOW, NOW + timedelta(days=10))
    with pytest.raises(BadRequest, match="Unknown role, scope or category"):
        services.grant_problems(db, admin, wanted)
    with pytest.raises(BadRequest, match="Unknown role, scope or category"):
        services.request_grant(db, admin, wanted)


# --- auditors ----------------------------------------------------------------------------------

def test_auditor_access_needs_a_listed_motivation_and_a_reference(db, admin) -> None:
    auditor = make_user(db)
    base = (auditor, Role.AUDITOR, Scope.PSEUDONYMISED, Category.HEALTH, NOW,
            NOW + timedelta(days=10))
    with pytest.raises(BadRequest, match="motivation"):
        services.request_grant(db, admin, services.GrantRequest(
            *base, motivation_reference="AUD-2026-01",
        ))
    with pytest.raises(BadRequest, match="motivation"):
        services.request_grant(db, admin, services.GrantRequest(
            *base, motivation="curiosity", motivation_reference="AUD-1",
        ))
    with pytest.raises(BadRequest, match="reference"):
        services.request_grant(db, admin, services.GrantRequest(
            *base, motivation="internal_procedures",
        ))
    with pytest.raises(BadRequest, match="reference"):
        services.request_grant(db, admin, services.GrantRequest(
            *base, motivation="internal_procedures", motivation_reference="free text with spaces",
        ))
    made = services.request_grant(db, admin, services.GrantRequest(
        *base, motivation="internal_procedures", motivation_reference="AUD-2026-01",
    ))
    assert made.status == GrantStatus.ACTIVE
    event = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "access:grant:request")).all()[-1]
    assert event.details["motivation"] == "internal_procedures"
    assert event.details["reference"] == "AUD-2026-01"


def test_auditor_access_lasts_at_most_30_days(db, admin) -> None:
    auditor = make_user(db)
    args = dict(motivation="regulatory_compliance", motivation_reference="INS-42")
    with pytest.raises(BadRequest, match="30 days"):
        services.request_grant(db, admin, services.GrantRequest(
            auditor, Role.AUDITOR, Scope.PSEUDONYMISED, Category.HEALTH, NOW,
            NOW + timedelta(days=30, seconds=1), **args,
        ))
    made = services.request_grant(db, admin, services.GrantRequest(
        auditor, Role.AUDITOR, Scope.PSEUDONYMISED, Category.HEALTH, NOW, NOW + timedelta(days=30),
        **args,
    ))
    assert made.valid_until == NOW + timedelta(days=30)


def test_only_auditors_carry_a_motivation(db, admin) -> None:
    with pytest.raises(BadRequest, match="Only auditor"):
        services.request_grant(db, admin, services.GrantRequest(
            make_user(db), Role.PHARMACOVIGILANCE, Scope.PSEUDONYMISED, Category.HEALTH, NOW,
            NOW + timedelta(days=10), motivation="internal_procedures", motivation_reference="X-1",
        ))


# --- perimeter ---------------------------------------------------------------------------------

def test_healthcare_roles_need_an_establishment_they_belong_to(db, admin, establishment) -> None:
    other = make_establishment(db, FINESS_B, "CHU Autre")
    doctor = make_user(db)
    services.add_member(db, admin, doctor, establishment)
    args = (doctor, Role.PRESCRIBER, Scope.IDENTIFYING, Category.HEALTH, NOW,
            NOW + timedelta(days=100))
    with pytest.raises(BadRequest, match="at least one establishment"):
        services.request_grant(db, admin, services.GrantRequest(*args))
    with pytest.raises(BadRequest, match="not a member of CHU Autre"):
        services.request_grant(db, admin, services.GrantRequest(
            *args, establishments=[establishment, other],
        ))
    made = services.request_grant(db, admin, services.GrantRequest(
        *args, establishments=[establishment],
    ))
    assert [e.finess for e in made.establishments] == [establishment.finess]


def test_laboratory_roles_have_no_establishment(db, admin, establishment) -> None:
    with pytest.raises(BadRequest, match="Only healthcare staff"):
        services.request_grant(db, admin, services.GrantRequest(
            make_user(db), Role.PHARMACOVIGILANCE, Scope.PSEUDONYMISED, Category.HEALTH, NOW,
            NOW + timedelta(days=10), establishments=[establishment],
        ))


@pytest.mark.parametrize("role", [Role.SUPPLY, Role.ADMINISTRATOR])
def test_roles_without_health_permissions_cannot_get_the_health_category(db, admin, role) -> None:
    with pytest.raises(BadRequest, match="never sees health data"):
        services.request_grant(db, admin, services.GrantRequest(
            make_user(db), role, Scope.AGGREGATED, Category.HEALTH, NOW, NOW + timedelta(days=10),
        ))


def test_an_administrator_cannot_grant_themselves_anything(db, admin) -> None:
    with pytest.raises(Forbidden, match="yourself"):
        services.request_grant(db, admin, services.GrantRequest(
            admin, Role.PHARMACOVIGILANCE, Scope.PSEUDONYMISED, Category.HEALTH, NOW,
            NOW + timedelta(days=10),
        ))


def test_a_person_without_grant_admin_cannot_request_grants(db, admin) -> None:
    supply = make_user(db)
    grant(db, supply, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER)
    with pytest.raises(Forbidden):
        services.request_grant(db, supply, services.GrantRequest(
            make_user(db), Role.SUPPLY, Scope.AGGREGATED, Category.OTHER, NOW,
            NOW + timedelta(days=10),
        ))


def test_a_disabled_account_cannot_receive_a_grant(db, admin) -> None:
    person = make_user(db, disabled_at=NOW)
    with pytest.raises(BadRequest, match="disabled"):
        services.request_grant(db, admin, services.GrantRequest(
            person, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER, NOW, NOW + timedelta(days=10),
        ))


# --- maker-checker -----------------------------------------------------------------------------

def test_identifying_health_data_wait_for_a_second_administrator(
        db, admin, admin2, establishment) -> None:
    doctor = make_user(db)
    services.add_member(db, admin, doctor, establishment)
    made = grant(db, doctor, Role.PRESCRIBER, Scope.IDENTIFYING, Category.HEALTH,
                 actor=admin, establishments=(establishment,))
    assert made.status == GrantStatus.PENDING_APPROVAL
    assert permissions_for(db, doctor) == frozenset()
    with pytest.raises(Forbidden, match="another administrator"):
        services.approve_grant(db, admin, made)
    assert made.status == GrantStatus.PENDING_APPROVAL
    services.approve_grant(db, admin2, made)
    assert made.status == GrantStatus.ACTIVE
    assert (made.approved_by_id, made.approved_at) == (admin2.id, NOW)
    assert Permission.PATIENT_READ in permissions_for(db, doctor)
    with pytest.raises(Conflict):
        services.approve_grant(db, admin2, made)
    assert audit_actions(db)[-1] == "access:grant:approve"


def test_an_administrator_cannot_approve_a_grant_to_themselves(db, admin, admin2) -> None:
    made = grant(db, admin2, Role.DPO, Scope.IDENTIFYING, Category.HEALTH, actor=admin)
    with pytest.raises(Forbidden, match="yourself"):
        services.approve_grant(db, admin2, made)


def test_a_cli_grant_of_identifying_health_data_also_waits(db, admin) -> None:
    made = grant(db, make_user(db), Role.DPO, Scope.IDENTIFYING, Category.HEALTH)
    assert made.status == GrantStatus.PENDING_APPROVAL
    assert made.requested_by_id is None
    services.approve_grant(db, admin, made)
    assert made.status == GrantStatus.ACTIVE


@pytest.mark.parametrize(("scope", "category"), [
    (Scope.PSEUDONYMISED, Category.HEALTH), (Scope.IDENTIFYING, Category.OTHER),
    (Scope.AGGREGATED, Category.HEALTH)])
def test_other_grants_are_active_at_once(db, admin, scope, category) -> None:
    made = grant(db, make_user(db), Role.PHARMACIST_IN_CHARGE, scope, category, actor=admin)
    assert made.status == GrantStatus.ACTIVE


# --- withdrawal and suspension ----------------------------------------------------------------

def _open_session(db, user) -> UserSession:
    row = UserSession(id_hash=hashlib.sha256(f"{user.id}-{NOW}".encode()).hexdigest(),
                      user_id=user.id, mfa_at=NOW)
    db.add(row)
    db.flush()
    return row


def test_withdrawal_ends_the_person_s_sessions_at_once(db, admin) -> None:
    person = make_user(db)
    made = grant(db, person, Role.PHARMACOVIGILANCE)
    open_row = _open_session(db, person)
    bystander = _open_session(db, admin)
    services.withdraw_grant(db, admin, made, "left_organisation")
    assert made.status == GrantStatus.WITHDRAWN
    assert (made.ended_at, made.end_reason) == (NOW, "left_organisation")
    db.refresh(open_row)
    db.refresh(bystander)
    assert open_row.revoked_at == NOW
    assert bystander.revoked_at is None
    assert permissions_for(db, person) == frozenset()
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert (event.action, event.details["sessions_ended"], event.details["reason"]) == (
        "access:grant:withdraw", 1, "left_organisation")
    with pytest.raises(Conflict):
        services.withdraw_grant(db, admin, made, "other")


def test_a_withdrawal_needs_a_listed_reason(db, admin) -> None:
    made = grant(db, make_user(db), Role.PHARMACOVIGILANCE)
    with pytest.raises(BadRequest):
        services.withdraw_grant(db, admin, made, "because")


def test_refusing_a_pending_request_withdraws_it(db, admin) -> None:
    made = grant(db, make_user(db), Role.DPO, Scope.IDENTIFYING, Category.HEALTH, actor=admin)
    services.withdraw_grant(db, admin, made, "request_refused")
    with pytest.raises(Conflict):
        services.approve_grant(db, admin, made)


def test_suspension_and_reinstatement(db, admin) -> None:
    person = make_user(db)
    made = grant(db, person, Role.PHARMACOVIGILANCE)
    services.suspend_grant(db, admin, made, "security_incident")
    assert permissions_for(db, person) == frozenset()
    services.reinstate_grant(db, admin, made)
    assert Permission.PATIENT_READ in permissions_for(db, person)
    assert audit_actions(db)[-2:] == ["access:grant:suspend", "access:grant:reinstate"]


# --- the perimeter helpers for the records area ------------------------------------------------

def test_perimeter_helpers(db, admin, admin2, establishment) -> None:
    other = make_establishment(db, FINESS_B, "CHU Autre")
    doctor = healthcare_person(db, Role.PRESCRIBER, establishment, approver=admin2)
    pv = make_user(db)
    grant(db, pv, Role.PHARMACOVIGILANCE, Scope.PSEUDONYMISED, protocol_key="demo-aac")
    supply = make_user(db)
    grant(db, supply, Role.SUPPLY, Scope.IDENTIFYING, Category.OTHER)

    assert services.establishment_ids_for(db, doctor) == {establishment.id}
    assert other.id not in services.establishment_ids_for(db, doctor)
    assert services.scope_for(db, doctor) == Scope.IDENTIFYING
    assert services.scope_for(db, pv) == Scope.PSEUDONYMISED
    assert services.scope_for(db, pv, protocol_key="other-protocol") is None
    assert services.scope_for(db, supply) is None
    assert services.establishment_ids_for(db, pv) == set()
    perimeter = services.perimeter_for(db, pv)
    assert (perimeter.scope, perimeter.establishment_ids, perimeter.protocol_keys) == (
        Scope.PSEUDONYMISED, None, frozenset({"demo-aac"}))
    assert services.perimeter_for(db, supply).scope is None
    assert services.perimeter_for(db, doctor).establishment_ids == {establishment.id}
    assert services.scope_for(db, None) is None
