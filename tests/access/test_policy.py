"""The one policy: permissions narrowed by scope and category, failing closed (SEC-HAB-1a/1d)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import clock
from portal.access import policy, services
from portal.access.models import AccessGrant, Category, Scope
from portal.access.policy import HEALTH, RECORD_LEVEL, denial_reason, permissions_for
from portal.audit.models import AuditEvent
from portal.permissions import ROLE_PERMISSIONS, Permission, Role
from tests.access.helpers import CLI, grant, make_user
from tests.access.login import log_in


def _held(role: Role, scope: Scope, category: Category) -> frozenset[Permission]:
    return policy.grant_permissions(AccessGrant(role=role.value, scope=scope.value,
                                                category=category.value))


@pytest.mark.parametrize("role", list(Role))
def test_aggregated_only_never_holds_a_record_permission(role) -> None:
    held = _held(role, Scope.AGGREGATED, Category.HEALTH)
    assert not held & RECORD_LEVEL
    assert held == ROLE_PERMISSIONS[role] - RECORD_LEVEL


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("scope", list(Scope))
def test_other_data_never_holds_a_health_permission(role, scope) -> None:
    held = _held(role, scope, Category.OTHER)
    assert not held & HEALTH
    assert Permission.SESSION_USE in held


@pytest.mark.parametrize("scope", list(Scope))
def test_supply_never_reaches_health_data(db, admin, scope) -> None:
    assert not ROLE_PERMISSIONS[Role.SUPPLY] & HEALTH
    supply = make_user(db)
    grant(db, supply, Role.SUPPLY, scope, Category.OTHER)
    held = permissions_for(db, supply)
    assert Permission.SUPPLY_MANAGE in held and not held & HEALTH
    assert services.scope_for(db, supply) is None


def test_permissions_add_up_over_valid_grants_only(db) -> None:
    person = make_user(db)
    grant(db, person, Role.MEDICAL_AFFAIRS, Scope.AGGREGATED)
    future = grant(db, person, Role.PHARMACOVIGILANCE,
                   valid_from=clock.now() + timedelta(days=1))
    assert Permission.AGGREGATE_READ in permissions_for(db, person)
    assert Permission.PATIENT_READ not in permissions_for(db, person)
    assert Permission.PATIENT_READ in permissions_for(db, person, at=future.valid_from)


def test_a_disabled_account_holds_nothing(db) -> None:
    person = make_user(db)
    grant(db, person, Role.PHARMACOVIGILANCE)
    person.disabled_at = clock.now()
    assert permissions_for(db, person) == frozenset()
    assert permissions_for(db, None) == frozenset()
    assert denial_reason(db, person) == "account_disabled"


def test_the_policy_fails_closed(db, monkeypatch) -> None:
    person = make_user(db)
    grant(db, person, Role.PHARMACOVIGILANCE)

    def broken(*_args, **_kwargs):  # noqa: ANN202
        raise RuntimeError("policy store unavailable")

    monkeypatch.setattr(policy, "valid_grants", broken)
    assert permissions_for(db, person) == frozenset()
    assert services.scope_for(db, person) is None
    assert services.establishment_ids_for(db, person) == set()
    assert services.perimeter_for(db, person).scope is None


def test_a_broken_policy_is_a_403_on_a_page(app, db, admin, monkeypatch) -> None:
    client = app.test_client()
    log_in(client, db, admin)
    assert "Waiting for a second administrator" in client.get("/access/people").text

    def broken(*_args, **_kwargs):  # noqa: ANN202
        raise RuntimeError("policy store unavailable")

    monkeypatch.setattr(policy, "valid_grants", broken)
    response = client.get("/access/people")
    assert response.status_code == 403
    assert "Waiting for a second administrator" not in response.text


@pytest.mark.parametrize(("setup", "reason"), [
    ("none", "no_grant"), ("future", "not_started"), ("withdrawn", "withdrawn"),
    ("suspended", "suspended"), ("pending", "pending_approval"), ("valid", "missing_permission"),
])
def test_denial_reasons(db, setup, reason) -> None:
    person = make_user(db)
    if setup == "future":
        grant(db, person, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER,
              valid_from=clock.now() + timedelta(days=2))
    elif setup in ("withdrawn", "suspended", "valid"):
        made = grant(db, person, Role.SUPPLY, Scope.AGGREGATED, Category.OTHER)
        if setup == "withdrawn":
            services.withdraw_grant(db, CLI, made, "other")
        elif setup == "suspended":
            services.suspend_grant(db, CLI, made, "security_incident")
    elif setup == "pending":
        grant(db, person, Role.DPO, Scope.IDENTIFYING, Category.HEALTH)
    assert denial_reason(db, person) == reason


def test_an_expired_grant_is_refused_at_the_next_request(app, db, admin) -> None:
    """SEC-HAB-1b: frozen at the end date + 1 s, the page is refused and the refusal logged."""
    person = make_user(db)
    made = grant(db, person, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER,
                 actor=admin, days=1)
    db.commit()
    start = clock.now()
    with clock.frozen(made.valid_until - timedelta(minutes=5)) as frozen:
        client = app.test_client()
        log_in(client, db, person)
        assert client.get("/access/people").status_code == 200
        frozen.tick(timedelta(minutes=5))
        assert client.get("/access/people").status_code == 200
        frozen.tick(timedelta(seconds=1))
        assert client.get("/access/people").status_code == 403
        assert denial_reason(db, person) == "expired"
        db.expire_all()
        assert db.scalars(select(AuditEvent).where(
            AuditEvent.action == "access:grant:expire")).all() == []
        # Five minutes on, the lazy expiry runs again before the request and marks it.
        frozen.tick(timedelta(minutes=5))
        assert client.get("/access/people").status_code == 403
    assert start < made.valid_until
    db.expire_all()
    denied = db.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert [(e.actor_id, e.details.get("endpoint")) for e in denied] == [
        (person.id, "access.people")] * 2
    expired = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "access:grant:expire")).one()
    assert expired.target_ref == f"G{made.id}"
