"""Fixtures of the audit tests: the accounts area's authorizer, people with and without grants."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from portal.access.models import Category, Scope
from portal.permissions import Role
from tests.access.helpers import grant, make_user
from tests.access.login import ensure_authorizer
from tests.conftest import POSTGRES_URL

requires_postgres = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PostgreSQL not configured: set PORTAL_TEST_DATABASE_URL (see .ci/run)",
)


@pytest.fixture
def app(app: Flask) -> Flask:
    """The portal, with the accounts area's authorizer even before the area wires itself in."""
    ensure_authorizer(app)
    return app


@pytest.fixture
def dpo(db: Session):  # noqa: ANN201
    """The data protection officer, who may read the trail."""
    person = make_user(db, "dora.dpo")
    grant(db, person, Role.DPO, Scope.AGGREGATED, Category.OTHER, days=365)
    db.commit()
    return person


@pytest.fixture
def auditor(db: Session):  # noqa: ANN201
    """An auditor with a motivated grant of 30 days."""
    person = make_user(db, "aude.auditor")
    grant(db, person, Role.AUDITOR, Scope.PSEUDONYMISED, Category.HEALTH, days=30,
          motivation="regulatory_compliance", motivation_reference="AUD-2026/001")
    db.commit()
    return person


@pytest.fixture
def pharmacist(db: Session):  # noqa: ANN201
    """A laboratory reader who may not read the trail."""
    person = make_user(db, "paul.pharmacovigilance")
    grant(db, person, Role.PHARMACOVIGILANCE, Scope.PSEUDONYMISED, Category.HEALTH, days=365)
    db.commit()
    return person
