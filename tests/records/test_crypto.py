"""Encryption at rest: sealed values, raw bytes, tampering, moved ciphertexts, wrong key file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select, update

from portal import create_app
from portal.audit.models import AuditAlert, AuditEvent
from portal.keys import KeyFileError, new_keyring, write_key_file
from portal.records import identities, submissions
from portal.records.integrity import RecordIntegrityError
from portal.records.models import Patient, SubmissionRevision
from portal.sealing import IntegrityCheckFailed, open_value, patient_aad, ring_of, seal_value
from tests.conftest import POSTGRES_URL, make_test_config
from tests.helpers_auth import login
from tests.records import helpers


def test_same_plaintext_twice_gives_different_ciphertexts(db, prescriber, site_a):
    ring = ring_of(db)
    aad = patient_aad("h", "p")
    first, second = seal_value(ring, aad, {"a": 1}), seal_value(ring, aad, {"a": 1})
    assert first.payload != second.payload and first.wrapped_key != second.wrapped_key
    assert open_value(ring, aad, first.payload, first.wrapped_key, first.kek_version) == {"a": 1}
    one = helpers.register(db, prescriber, site_a)
    two = helpers.register(db, prescriber, site_a, confirm=True)
    assert one.identity != two.identity
    assert identities.read_identity(db, prescriber, one) == \
        identities.read_identity(db, prescriber, two)


def _fill_everything_through_the_pages(db, client, prescriber, site_a):  # noqa: ANN001, ANN202
    """Register, fill an access form, an initiation, a follow-up and a draft, over HTTP."""
    login(client, prescriber)
    response = client.post("/patients/new", data={
        "surname_letters": "Zqx", "first_name_letters": "Wk", "sex": "F", "birth_month": "4",
        "birth_year": "1961", "weight_kg": "64.2", "height_cm": "168",
        "establishment_id": str(site_a.id), "protocol_key": helpers.PROTOCOL_KEY})
    assert response.status_code == 303
    patient = db.scalar(select(Patient))
    for form_key, action in (("access", "submit"), ("initiation", "submit"),
                             ("follow_up", "submit"), ("follow_up", "draft")):
        page = client.get(f"/patients/{patient.handle}/forms/{form_key}").get_data(as_text=True)
        token = re.search(r'name="token"[^>]*value="([^"]+)"', page).group(1)
        data = helpers.form_data(helpers.ANSWERS[form_key](), form_key, db)
        data.update(token=token, action=action)
        response = client.post(f"/patients/{patient.handle}/forms/{form_key}", data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 303, (form_key, re.findall(r'role="alert">(.*?)</', page))
    return patient


def _assert_absent(blob: bytes, where: str) -> None:
    for name, value in helpers.DISTINCTIVE.items():
        if len(value) < 5:
            continue  # a short value could occur by chance in random ciphertext bytes
        assert value.encode() not in blob, f"{name} ({value}) found in clear in {where}"


@pytest.mark.skipif(bool(POSTGRES_URL), reason="the SQLite file test runs on SQLite")
def test_no_typed_value_in_the_sqlite_file_or_its_wal(db, client, prescriber, site_a, app):
    patient = _fill_everything_through_the_pages(db, client, prescriber, site_a)
    # The values are there, decrypted, for the people allowed to see them.
    page = client.get(f"/patients/{patient.handle}").get_data(as_text=True)
    assert "ZQX-WK" in page
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    assert files and any(p.stat().st_size for p in files)
    for file in files:
        _assert_absent(file.read_bytes(), file.name)


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (PORTAL_TEST_DATABASE_URL)")
def test_no_typed_value_in_a_postgresql_dump(db, client, prescriber, site_a):
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    patient = _fill_everything_through_the_pages(db, client, prescriber, site_a)
    assert db.scalar(select(SubmissionRevision.id).where(
        SubmissionRevision.submission_id.isnot(None)))
    assert patient.case_number
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, check=True,
                          timeout=120).stdout
    assert patient.case_number.encode() in dump  # the dump is of the right database
    _assert_absent(dump, "pg_dump")


def _first_follow_up(db, prescriber, patient):  # noqa: ANN001, ANN202
    helpers.submit(db, prescriber, patient, "initiation")
    return helpers.submit(db, prescriber, patient, "follow_up")


def _tamper(db, submission) -> None:  # noqa: ANN001
    """Flip one bit of the submission's first sealed revision, behind the portal's back."""
    revision = submission.revisions[0]
    tampered = bytearray(revision.payload)
    tampered[20] ^= 0x01
    db.execute(update(SubmissionRevision).where(SubmissionRevision.id == revision.id)
               .values(payload=bytes(tampered)))
    db.commit()


def test_tampered_ciphertext_is_never_shown(db, client, prescriber, patient):
    follow_up = _first_follow_up(db, prescriber, patient)
    _tamper(db, follow_up)
    login(client, prescriber)
    response = client.get(f"/submissions/{follow_up.handle}")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "failed its integrity check" in page
    assert helpers.DISTINCTIVE["weight"] not in page
    alert = db.scalar(select(AuditAlert).where(AuditAlert.rule == "record_integrity"))
    assert alert is not None and alert.target_ref == follow_up.audit_ref
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "records:integrity:fail"))
    assert entry.outcome == "failure" and entry.target_ref == follow_up.audit_ref


def test_ciphertext_moved_to_another_row_fails(db, prescriber, patient):
    helpers.submit(db, prescriber, patient, "initiation")
    first = helpers.submit(db, prescriber, patient, "follow_up", helpers.follow_up_answers("M1"))
    second = helpers.submit(db, prescriber, patient, "follow_up", helpers.follow_up_answers("M3"))
    one, two = first.revisions[0], second.revisions[0]
    moved = {"payload": one.payload, "wrapped_key": one.wrapped_key,
             "kek_version": one.kek_version}
    db.execute(update(SubmissionRevision).where(SubmissionRevision.id == two.id).values(**moved))
    db.commit()
    db.expire_all()
    assert submissions.read_answers(db, prescriber, first)["visit_timepoint"] == "M1"
    with pytest.raises(RecordIntegrityError):
        submissions.read_answers(db, prescriber, second)


def test_identity_moved_to_another_patient_fails(db, prescriber, site_a):
    one = helpers.register(db, prescriber, site_a)
    two = helpers.register(db, prescriber, site_a, surname_letters="Abc")
    db.execute(update(Patient).where(Patient.id == two.id).values(
        identity=one.identity, wrapped_key=one.wrapped_key, kek_version=one.kek_version))
    db.commit()
    db.expire_all()
    with pytest.raises(RecordIntegrityError):
        identities.read_identity(db, prescriber, two)


def test_wrapped_key_under_the_wrong_kek_fails(db, prescriber, patient):
    other = new_keyring()
    with pytest.raises(IntegrityCheckFailed):
        open_value(other, patient_aad(patient.handle, patient.protocol_key), patient.identity,
                   patient.wrapped_key, patient.kek_version)


def test_portal_refuses_to_start_with_the_wrong_key_file(app, tmp_path, monkeypatch):
    wrong = tmp_path / "wrong.keys"
    write_key_file(wrong, new_keyring())
    config = make_test_config(tmp_path, wrong)
    config["DATABASE_URL"] = app.config["DATABASE_URL"]
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance2"))
    with pytest.raises(KeyFileError, match="does not match this database"):
        create_app(config)


def test_bulk_opener_agrees_with_the_crypto_module(db, prescriber, patient):
    from portal.sealing import BulkOpener, revision_aad, revision_aad_maker

    submission = helpers.submit(db, prescriber, patient, "initiation")
    revision = submission.revisions[0]
    version = submission.protocol_version
    aad = revision_aad(submission.handle, 1, "original", patient.handle, version.protocol_key,
                       version.content_hash, "initiation")
    maker = revision_aad_maker(version.protocol_key, version.content_hash, "initiation")
    assert maker(submission.handle, 1, "original", patient.handle) == aad
    ring = ring_of(db)
    expected = open_value(ring, aad, revision.payload, revision.wrapped_key,
                          revision.kek_version)
    opened = BulkOpener(ring).open(aad, revision.payload, revision.wrapped_key,
                                   revision.kek_version)
    assert __import__("json").loads(opened) == expected
    with pytest.raises(IntegrityCheckFailed):
        BulkOpener(ring).open(aad + b"x", revision.payload, revision.wrapped_key,
                              revision.kek_version)


def test_a_record_failing_its_integrity_check_opens_one_draft_breach(db, client, prescriber,
                                                                     patient):
    from portal.registers import services as registers
    from portal.registers.models import RegisterKind

    follow_up = _first_follow_up(db, prescriber, patient)
    _tamper(db, follow_up)
    login(client, prescriber)
    for _ in range(2):  # shown twice: the same alert, extended, and still one draft
        assert client.get(f"/submissions/{follow_up.handle}").status_code == 500
    db.expire_all()
    [draft] = registers.items(db, RegisterKind.BREACH)
    assert draft.status == registers.BreachStatus.DRAFT
    assert draft.data["source"] == "audit:record_integrity"
    assert draft.data["nature"] == ["integrity"]
