"""Records fixtures: the demo protocol installed, two sites, their professionals, lab people.

The conftest files of records and of the areas whose tests stand on records data (meddra)
import them from here, so that each is written once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import portal.notices.models  # noqa: F401 - tables on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.access.models import Scope
from portal.permissions import Role
from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2
from tests.records import helpers


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path) -> dict[str, object]:
    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2)


@pytest.fixture
def protocol(db: Session):  # noqa: ANN201
    return helpers.install_demo(db)


@pytest.fixture
def site_a(db: Session):  # noqa: ANN201
    return helpers.site(db, helpers.FINESS_A, "Centre hospitalier Alpha")


@pytest.fixture
def site_b(db: Session):  # noqa: ANN201
    return helpers.site(db, helpers.FINESS_B, "Clinique Beta")


@pytest.fixture
def prescriber(db: Session, site_a, protocol):  # noqa: ANN001, ANN201
    return helpers.professional(db, "c.martin", site_a)


@pytest.fixture
def prescriber_b(db: Session, site_b, protocol):  # noqa: ANN001, ANN201
    return helpers.professional(db, "b.roux", site_b)


@pytest.fixture
def pharmacovigilance(db: Session, protocol):  # noqa: ANN001, ANN201
    return helpers.lab_person(db, "p.vigie", Role.PHARMACOVIGILANCE)


@pytest.fixture
def aggregated(db: Session, protocol):  # noqa: ANN001, ANN201
    return helpers.lab_person(db, "m.agreg", Role.MEDICAL_AFFAIRS, Scope.AGGREGATED)


@pytest.fixture
def dpo(db: Session, protocol):  # noqa: ANN001, ANN201
    return helpers.lab_person(db, "i.laurent", Role.DPO, Scope.IDENTIFYING)


@pytest.fixture
def patient(db: Session, prescriber, site_a):  # noqa: ANN001, ANN201
    return helpers.register(db, prescriber, site_a)
