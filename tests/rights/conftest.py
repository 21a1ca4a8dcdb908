"""Fixtures of the rights tests: two establishments, their doctors, the DPO, a patient."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

# Every table these tests touch is on the metadata before the PostgreSQL schema is created
# (portal.models lists the areas as the lead wires them in).
import portal.notices.models  # noqa: F401
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from tests.helpers_auth import CHEAP_ARGON2, TEST_FINESS
from tests.rights.helpers import (
    FOLLOW_UP,
    OTHER_FINESS,
    establishment,
    fill,
    install_protocol,
    make_doctor,
    make_dpo,
    register_patient,
)


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    app_config["PASSWORD_HASHER"] = CHEAP_ARGON2
    return app_config


@pytest.fixture
def hospital_a(db: Session):  # noqa: ANN201
    return establishment(db, TEST_FINESS, "Centre hospitalier Exemple")


@pytest.fixture
def hospital_b(db: Session):  # noqa: ANN201
    return establishment(db, OTHER_FINESS, "Clinique Autre")


@pytest.fixture
def doctor(db: Session, hospital_a):  # noqa: ANN001, ANN201
    return make_doctor(db, hospital_a, "dr.martin")


@pytest.fixture
def doctor_b(db: Session, hospital_b):  # noqa: ANN001, ANN201
    return make_doctor(db, hospital_b, "dr.bernard")


@pytest.fixture
def dpo(db: Session):  # noqa: ANN201
    return make_dpo(db)


@pytest.fixture
def patient(db, doctor, hospital_a):  # noqa: ANN001, ANN201
    """A patient of `doctor` at hospital A, with one follow-up form filled in."""
    install_protocol(db)
    patient = register_patient(db, doctor, hospital_a)
    fill(db, doctor, patient, "followup", FOLLOW_UP)
    return patient
