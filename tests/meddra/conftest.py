"""MedDRA fixtures: the synthetic release (tests/data/meddra); the records' fixtures; a patient."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import portal.notices.models  # noqa: F401 - tables on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.meddra.services import load_release
from tests.records import helpers
from tests.records.fixtures import (  # noqa: F401 - fixtures
    app_config,
    pharmacovigilance,
    prescriber,
    protocol,
    site_a,
)

RELEASES = Path(__file__).resolve().parents[1] / "data" / "meddra"
#: English: unpacked as distributed (a MedAscii folder); French: the files themselves
ENGLISH, FRENCH = RELEASES / "en", RELEASES / "fr"


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
def patient(db: Session, prescriber, site_a):  # noqa: ANN001, ANN201, F811
    """The records' patient, with an initiation form (the forms with MedDRA fields follow)."""
    found = helpers.register(db, prescriber, site_a)
    helpers.submit(db, prescriber, found, "initiation")
    return found
