"""The demo seeder: establishments and one sensible grant per demo person, idempotently."""

from __future__ import annotations

from portal.access import services
from portal.access.demo import DEMO_ESTABLISHMENTS, seed_demo
from portal.access.models import GrantStatus, Scope
from portal.access.policy import permissions_for
from portal.accounts import demo as accounts_demo
from portal.accounts.services import user_by_login
from portal.identifiers import is_valid_finess
from portal.permissions import Permission, Role


def test_demo_grants(app, db) -> None:
    app.config["ENV"] = "development"
    accounts_demo.seed_demo(app, db)
    lines = seed_demo(app, db)
    db.commit()
    assert all(is_valid_finess(finess) for finess, _, _ in DEMO_ESTABLISHMENTS)
    assert sum(line.startswith("Establishment") for line in lines) == 2
    people = {p.login: p.role for p in accounts_demo.DEMO_PEOPLE}
    assert sum(line.startswith("Grant") for line in lines) == len(people)

    sites: dict[Role, set[int]] = {}
    for login, role in people.items():
        user = user_by_login(db, login)
        (grant,) = services.grants_of(db, user)
        assert (grant.role, grant.status) == (role, GrantStatus.ACTIVE), login
        assert Permission.SESSION_USE in permissions_for(db, user)
        if role in (Role.PRESCRIBER, Role.HOSPITAL_PHARMACIST, Role.HEALTHCARE_STAFF):
            sites.setdefault(role, set()).update(services.establishment_ids_for(db, user))
            assert services.scope_for(db, user) == Scope.IDENTIFYING
        if role == Role.AUDITOR:
            assert grant.motivation and grant.motivation_reference
            assert (grant.valid_until - grant.valid_from).days == 30
        if role == Role.SUPPLY:
            assert services.scope_for(db, user) is None
        if role == Role.MEDICAL_AFFAIRS:
            assert Permission.PATIENT_READ not in permissions_for(db, user)
            assert Permission.AGGREGATE_READ in permissions_for(db, user)
        if role == Role.PHARMACOVIGILANCE:
            assert services.scope_for(db, user) == Scope.PSEUDONYMISED
    # Someone on the healthcare side works in the other establishment.
    all_sites = set().union(*sites.values())
    assert len(all_sites) == 2
    assert sites[Role.PRESCRIBER] != sites[Role.HOSPITAL_PHARMACIST] or len(
        sites[Role.PRESCRIBER]) == 2

    assert seed_demo(app, db) == []
