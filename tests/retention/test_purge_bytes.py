"""At the purge date no byte of the case is left: not in the files, the WAL, nor a pg_dump."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from portal import clock
from portal.audit.purge import purge as purge_audit
from portal.records.models import Patient
from portal.retention.dates import add_years
from tests.conftest import POSTGRES_URL
from tests.records import helpers as records
from tests.retention.helpers import CLI, paris, patient_with_aac, run_on

EVIDENCE = "ANSM-AAC-2027-7731"


def _seeded_case(app, db, prescriber, site_a):  # noqa: ANN001, ANN202
    """A case with every form filled; returns it with its archive and purge days."""
    app.config["RETENTION_ARCHIVE_YEARS"] = 5
    ends = date.fromisoformat(records.access_answers()["aac_end_date"])
    patient, _case = patient_with_aac(db, prescriber, site_a, granted=ends - timedelta(days=300),
                                      ends=ends, evidence=EVIDENCE)
    for form in ("access", "initiation", "follow_up"):
        records.submit(db, prescriber, patient, form)
    return patient, add_years(ends, 2), add_years(ends, 5)


def _needles(patient) -> dict[str, bytes]:  # noqa: ANN001
    needles = {"case number": patient.case_number.encode(), "evidence": EVIDENCE.encode(),
               "handle": patient.handle.encode()}
    for name, value in records.DISTINCTIVE.items():
        if len(value) >= 5:  # shorter ones could occur by chance in random bytes
            needles[name] = value.encode()
    return needles


def _sqlite_files(url: str) -> list[Path]:
    path = Path(make_url(url).database or "")
    return [p for p in (path, Path(f"{path}-wal")) if p.exists()]


@pytest.mark.skipif(bool(POSTGRES_URL), reason="the SQLite file test runs on SQLite")
def test_no_byte_of_a_purged_case_in_the_database_files(app, db, prescriber, site_a,
                                                        archive) -> None:
    patient, archive_due, purge_due = _seeded_case(app, db, prescriber, site_a)
    needles = _needles(patient)
    main = _sqlite_files(app.config["DATABASE_URL"])
    assert any(patient.case_number.encode() in p.read_bytes() for p in main)  # the right file
    assert run_on(db, archive_due - timedelta(days=1)).archived == 0
    assert run_on(db, archive_due).archived == 1
    archive_files = _sqlite_files(app.config["RETENTION_ARCHIVE_URL"])
    assert any(patient.case_number.encode() in p.read_bytes() for p in archive_files)
    assert run_on(db, purge_due).purged == 1
    with clock.frozen(paris(purge_due, 3)):
        purge_audit(db, CLI)
        db.commit()
    db.close()
    from portal.db import get_engine
    from portal.retention.archive import archive_engine, compact

    compact(get_engine(app))
    compact(archive_engine(app))
    for file in _sqlite_files(app.config["DATABASE_URL"]) + _sqlite_files(
            app.config["RETENTION_ARCHIVE_URL"]):
        blob = file.read_bytes()
        for name, needle in needles.items():
            assert needle not in blob, f"{name} found in {file.name}"


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (PORTAL_TEST_DATABASE_URL)")
def test_no_byte_of_a_purged_case_in_a_pg_dump(app, db, prescriber, site_a, archive) -> None:
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    patient, archive_due, purge_due = _seeded_case(app, db, prescriber, site_a)
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")

    def dump() -> bytes:
        return subprocess.run(["pg_dump", "--data-only", url], capture_output=True, check=True,
                              timeout=120).stdout

    assert run_on(db, archive_due).archived == 1
    archived = dump()
    assert patient.case_number.encode() in archived  # the archive schema is in the dump
    _purge_everything_after_archive(db, purge_due)
    assert db.scalar(select(func.count()).select_from(Patient)) == 0
    blob = dump()
    for name, needle in _needles(patient).items():
        assert needle not in blob, f"{name} found in the pg_dump"


def _purge_everything_after_archive(db, purge_due) -> None:  # noqa: ANN001
    assert run_on(db, purge_due).purged == 1
    with clock.frozen(paris(purge_due, 3)):
        purge_audit(db, CLI)
        db.commit()
