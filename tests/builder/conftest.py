"""Builder fixtures: the demo protocol in force, a prescriber and two protocol managers."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from portal.permissions import Role
from tests.records import helpers
from tests.records.fixtures import (  # noqa: F401 - fixtures
    app_config,
    patient,
    prescriber,
    protocol,
    site_a,
)


@pytest.fixture
def author(db: Session, protocol):  # noqa: ANN001, ANN201, F811
    return helpers.lab_person(db, "a.auteur", Role.PHARMACIST_IN_CHARGE)


@pytest.fixture
def checker(db: Session, protocol):  # noqa: ANN001, ANN201, F811
    return helpers.lab_person(db, "v.verif", Role.MEDICAL_AFFAIRS)
