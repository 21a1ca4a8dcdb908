"""Key-encryption key rotation (portal.sealing) on records: re-wrap, resume, retire the old key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import create_app
from portal import sealing as rotation
from portal.db import new_session
from portal.keys import KeyFileError, load_key_file, new_keyring, write_key_file
from portal.records import identities, schedule_state, submissions
from portal.records.models import Patient, ScheduleState, Submission, SubmissionRevision
from portal.sealing import KeyCheck, retire_kek_command, rotate_command
from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2
from tests.records import helpers


@pytest.fixture
def own_key_file(tmp_path: Path) -> Path:
    """A key file for this test alone: rotation rewrites it."""
    path = tmp_path / "rotating.keys"
    write_key_file(path, new_keyring())
    return path


@pytest.fixture
def app_config(tmp_path: Path, own_key_file: Path) -> dict[str, object]:
    return make_test_config(tmp_path, own_key_file, PASSWORD_HASHER=CHEAP_ARGON2)


@pytest.fixture
def records(db, prescriber, site_a):  # noqa: ANN001, ANN201
    """Three patients with an initiation and a follow-up each, plus a draft."""
    made = []
    for letters in ("Abc", "Def", "Ghi"):
        patient = helpers.register(db, prescriber, site_a, surname_letters=letters)
        helpers.submit(db, prescriber, patient, "initiation")
        helpers.submit(db, prescriber, patient, "follow_up")
        made.append(patient)
    ref = submissions.current_form(db, made[0], "follow_up")
    submissions.save_draft(db, prescriber, made[0], ref, {"f_visit_timepoint": ["M3"]},
                           submissions.new_token())
    db.commit()
    return made


def _versions(db) -> set[int]:  # noqa: ANN001
    db.expire_all()
    return set(db.scalars(select(Patient.kek_version))) | set(
        db.scalars(select(SubmissionRevision.kek_version))) | set(
        db.scalars(select(ScheduleState.kek_version)))


def _everything_decrypts(app, actor) -> int:  # noqa: ANN001
    """Open every identity, revision and schedule state with a freshly started portal (the key
    file as is)."""
    count = 0
    with new_session(app) as session:
        for patient in session.scalars(select(Patient)):
            identities.read_identity(session, actor, patient)
            state = schedule_state.state_of(session, patient.id)
            count += 1 + len(schedule_state.open_facts(session, actor, patient, state)[:1])
        for submission in session.scalars(select(Submission)):
            if submission.is_draft:
                submissions.read_draft(session, actor, submission)
            else:
                submissions.read_answers(session, actor, submission)
            count += 1
    return count


def _restart(app_config, tmp_path, monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "restarted"))
    return create_app(app_config)


def test_rotation_rewraps_every_key_and_the_old_one_can_go(
        app, db, records, prescriber, own_key_file, app_config, tmp_path, monkeypatch):
    payloads = {r.id: r.payload for r in db.scalars(select(SubmissionRevision))}
    assert _versions(db) == {1}
    report = rotation.rotate_kek(db, helpers.CLI, batch_size=2)
    assert report.added_key and report.to_version == 2
    assert report.rewrapped["patient"] == 3 and report.rewrapped["submission_revision"] == 7
    assert _versions(db) == {2}
    # The data itself was not re-encrypted: only the wrapped keys changed.
    assert {r.id: r.payload for r in db.scalars(select(SubmissionRevision))} == payloads
    ring = load_key_file(own_key_file)
    assert set(ring.keks) == {1, 2} and ring.current_kek == 2
    assert stat.S_IMODE(os.stat(own_key_file).st_mode) == 0o400
    assert db.get(KeyCheck, "kek:2") is not None

    rotation.retire_kek(db, helpers.CLI, 1)
    db.commit()
    assert set(load_key_file(own_key_file).keks) == {2}
    assert stat.S_IMODE(os.stat(own_key_file).st_mode) == 0o400
    db.expire_all()
    assert db.get(KeyCheck, "kek:1") is None and db.get(KeyCheck, "kek:2") is not None
    restarted = _restart(app_config, tmp_path, monkeypatch)
    assert _everything_decrypts(restarted, prescriber) == 13
    # New records are sealed under the new key.
    patient = helpers.register(db, prescriber, records[0].establishment, surname_letters="Jkl")
    assert patient.kek_version == 2


def test_interrupted_rotation_resumes_without_a_third_key(app, db, records, own_key_file):
    class Interrupted(Exception):
        pass

    def stop_after_first_batch(table: str, done: int) -> None:
        if table == "submission_revision":
            raise Interrupted

    with pytest.raises(Interrupted):
        rotation.rotate_kek(db, helpers.CLI, batch_size=3, progress=stop_after_first_batch)
    db.rollback()
    assert _versions(db) == {1, 2}  # the first batch was committed, the rest not yet
    with pytest.raises(KeyFileError, match="still wraps"):
        rotation.retire_kek(db, helpers.CLI, 1)
    report = rotation.rotate_kek(db, helpers.CLI, batch_size=3)
    assert not report.added_key and report.to_version == 2
    assert report.rewrapped["submission_revision"] == 4
    assert _versions(db) == {2}
    assert set(load_key_file(own_key_file).keks) == {1, 2}


def test_the_current_key_cannot_be_retired(app, db, records):
    with pytest.raises(KeyFileError, match="current"):
        rotation.retire_kek(db, helpers.CLI, 1)
    with pytest.raises(KeyFileError, match="no key-encryption key version 7"):
        rotation.retire_kek(db, helpers.CLI, 7)


def test_a_running_portal_picks_up_the_new_key(app, db, records, prescriber, app_config,
                                               tmp_path, monkeypatch):
    # Another process (the operator's command) rotates; this portal keeps running.
    operator = _restart(app_config, tmp_path, monkeypatch)
    with new_session(operator) as session:
        rotation.rotate_kek(session, helpers.CLI)
    assert app.extensions["portal.keys"].current_kek == 1
    assert _everything_decrypts(app, prescriber) == 13
    assert app.extensions["portal.keys"].current_kek == 2


def test_rotation_and_retirement_commands(app, db, records, runner, own_key_file):
    result = runner.invoke(rotate_command, ["--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "Key-encryption key 2 added" in result.output
    assert "13 data keys re-wrapped" in result.output
    result = runner.invoke(retire_kek_command, ["1"])
    assert result.exit_code == 0, result.output
    assert set(load_key_file(own_key_file).keks) == {2}
    result = runner.invoke(retire_kek_command, ["2"])
    assert result.exit_code != 0 and "current" in result.output
