"""MedDRA fixtures: the synthetic release (tests/data/meddra), the demo protocol, a patient."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import portal.notices.models  # noqa: F401 - tables on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.meddra.services import load_release
from portal.permissions import Role
from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2
from tests.records import helpers

RELEASES = Path(__file__).resolve().parents[1] / "data" / "meddra"
#: English: unpacked as distributed (a MedAscii folder); French: the files themselves
ENGLISH, FRENCH = RELEASES / "en", RELEASES / "fr"


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path) -> dict[str, object]:
    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2)


@pytest.fixture
def both_releases(db: Session) -> None:
    load_release(db, helpers.CLI, ENGLISH)
    load_release(db, helpers.CLI, FRENCH)
    db.commit()


@pytest.fixture
def english_only(db: Session) -> None:
    load_release(db, helpers.CLI, ENGLISH)
    db.commit()


@pytest.fixture
def french_copy(tmp_path: Path) -> Path:
    """A copy of the French release a test may spoil."""
    return Path(shutil.copytree(FRENCH, tmp_path / "fr-copy"))


@pytest.fixture
def protocol(db: Session):  # noqa: ANN201
    return helpers.install_demo(db)


@pytest.fixture
def site_a(db: Session):  # noqa: ANN201
    return helpers.site(db, helpers.FINESS_A, "Centre hospitalier Alpha")


@pytest.fixture
def prescriber(db: Session, site_a, protocol):  # noqa: ANN001, ANN201
    return helpers.professional(db, "c.martin", site_a)


@pytest.fixture
def pharmacovigilance(db: Session, protocol):  # noqa: ANN001, ANN201
    return helpers.lab_person(db, "p.vigie", Role.PHARMACOVIGILANCE)


@pytest.fixture
def patient(db: Session, prescriber, site_a):  # noqa: ANN001, ANN201
    found = helpers.register(db, prescriber, site_a)
    helpers.submit(db, prescriber, found, "initiation")
    return found
