"""At the purge date no byte of the case is left: not in the files, the WAL, nor a pg_dump."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from portal import clock
from portal.audit.purge import purge as purge_audit
from portal.records.models import Patient
from tests.conftest import POSTGRES_URL
from tests.records import helpers as records
from tests.retention.helpers import CLI, paris, patient_with_aac, run_on

EVIDENCE = "ANSM-AAC-2027-7731"
ARCHIVE_DUE = date(2029, 12, 31)
PURGE_DUE = date(2032, 12, 31)


def _seeded_case(app, db, prescriber, site_a):  # noqa: ANN001, ANN202
    app.config["RETENTION_ARCHIVE_YEARS"] = 5
    patient, case = patient_with_aac(db, prescriber, site_a, granted=date(2027, 1, 10),
                                     ends=date(2027, 12, 31), evidence=EVIDENCE)
    for form in ("access", "initiation", "follow_up"):
        records.submit(db, prescriber, patient, form)
    return patient, case


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
    patient, _case = _seeded_case(app, db, prescriber, site_a)
    needles = _needles(patient)
    main = _sqlite_files(app.config["DATABASE_URL"])
    assert any(patient.case_number.encode() in p.read_bytes() for p in main)  # the right file
    run_on(db, ARCHIVE_DUE)
    archive_files = _sqlite_files(app.config["RETENTION_ARCHIVE_URL"])
    assert any(patient.case_number.encode() in p.read_bytes() for p in archive_files)
    assert run_on(db, PURGE_DUE).purged == 1
    with clock.frozen(paris(PURGE_DUE, 3)):
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
    patient, _case = _seeded_case(app, db, prescriber, site_a)
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")

    def dump() -> bytes:
        return subprocess.run(["pg_dump", "--data-only", url], capture_output=True, check=True,
                              timeout=120).stdout

    run_on(db, ARCHIVE_DUE)
    archived = dump()
    assert patient.case_number.encode() in archived  # the archive schema is in the dump
    _purge_everything_after_archive(db)
    assert db.scalar(select(func.count()).select_from(Patient)) == 0
    blob = dump()
    for name, needle in _needles(patient).items():
        assert needle not in blob, f"{name} found in the pg_dump"


def _purge_everything_after_archive(db) -> None:  # noqa: ANN001
    assert run_on(db, PURGE_DUE).purged == 1
    with clock.frozen(paris(PURGE_DUE, 3)):
        purge_audit(db, CLI)
        db.commit()
