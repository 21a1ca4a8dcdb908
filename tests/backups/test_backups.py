"""Backup, verify and restore on the test database (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url

from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.audit.verify import verify as verify_chain
from portal.backups import services
from portal.backups.models import BackupRun
from portal.backups.services import BackupError
from portal.db import get_engine, make_engine, new_session
from portal.keys import new_keyring
from portal.sealing import sealed_stream as stream
from tests.backups import helpers
from tests.backups.helpers import CLI
from tests.conftest import POSTGRES_URL


def _backup(app: Flask) -> Path:
    return services.create_backup(app, CLI).path


def _target_is_empty(url: str) -> bool:
    if make_url(url).get_backend_name() == "sqlite":
        path = Path(make_url(url).database or "")
        return not path.exists() and not list(path.parent.glob(f".{path.name}.restoring-*"))
    engine = make_engine(url)
    try:
        return services._empty_postgres(engine)
    finally:
        engine.dispose()


def test_a_restore_gives_back_every_record_and_the_chain_continues(app, db, seeded, target_url):
    before = helpers.every_revision(db)
    counts = helpers.row_counts(get_engine(app))
    head = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    db.rollback()
    path = _backup(app)

    restored = services.restore_backup(app, path, target_url, CLI)

    assert restored.manifest.row_counts == counts
    engine = make_engine(target_url)
    try:
        after_counts = helpers.row_counts(engine)
        # The restore wrote one audit entry into the restored database, nothing else.
        assert after_counts == {**counts, "audit_event": counts["audit_event"] + 1}
        with helpers.session_on(app, engine) as session:
            after = helpers.every_revision(session)
            assert len(after) == len(before) >= 6
            assert after == before
            chain = verify_chain(session)
            assert chain.ok, chain.problem
            last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
            assert last.seq == head + 1 and last.action == "backups:database:restore"
    finally:
        engine.dispose()


def test_the_raw_backup_holds_none_of_the_seeded_values(app, seeded):
    raw = _backup(app).read_bytes()
    assert raw.startswith(stream.MAGIC)
    assert b"PGDMP" not in raw and b"SQLite format" not in raw
    # Values of four bytes or fewer turn up by chance in that much random ciphertext.
    longer = [v for v in seeded.secrets if len(v) >= 5]
    assert len(longer) >= 6
    for value in longer:
        assert value.encode() not in raw, value
        assert value.encode("utf-16-le") not in raw, value


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])


def _swap(path: Path) -> None:
    data = path.read_bytes()
    header = stream.read_header(io.BytesIO(data))
    start, size = len(header.raw), header.chunk_size + stream.TAG
    one, two = data[start + size : start + 2 * size], data[start + 2 * size : start + 3 * size]
    path.write_bytes(data[: start + size] + two + one + data[start + 3 * size :])


def _other_key(app: Flask, path: Path) -> None:
    mine = app.extensions["portal.keys"]
    app.extensions["portal.keys"] = new_keyring()
    try:
        path.unlink()
        services.write_backup(app, path)
    finally:
        app.extensions["portal.keys"] = mine


DAMAGES = {
    "flipped byte": (lambda app, p: _flip(p), "fails authentication"),
    "truncated": (lambda app, p: _truncate(p), "fails authentication"),
    "swapped chunks": (lambda app, p: _swap(p), "chunk 2 fails authentication"),
    "another key": (_other_key, "sealed with another backup key"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_backup_is_refused_and_nothing_is_restored(app, seeded, target_url, damage):
    path = _backup(app)
    spoil, message = DAMAGES[damage]
    spoil(app, path)

    with pytest.raises(BackupError, match=message) as caught:
        services.restore_backup(app, path, target_url, CLI)
    assert str(caught.value).startswith(f"{path.name} is refused: ")
    assert str(caught.value).count(". ") == 0  # one sentence
    assert _target_is_empty(target_url)

    result = services.verify_backup(app, path, CLI)
    assert not result.ok and message in result.message


def test_a_damaged_backup_makes_the_cli_fail_with_one_sentence(app, runner, seeded, target_url):
    path = _backup(app)
    _flip(path)
    result = runner.invoke(args=["backup", "restore", str(path), "--database", target_url])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Nothing was restored: ")
    assert "fails authentication" in result.output and "Traceback" not in result.output
    assert _target_is_empty(target_url)
    verified = runner.invoke(args=["backup", "verify", str(path)])
    assert verified.exit_code == 1 and "fails authentication" in verified.output


def test_a_restore_into_a_database_that_is_not_empty_is_refused(app, seeded, target_url):
    path = _backup(app)
    services.restore_backup(app, path, target_url, CLI)
    engine = make_engine(target_url)
    counts = helpers.row_counts(engine)
    engine.dispose()

    with pytest.raises(
        BackupError, match="is not empty: a backup restores into an empty database only"
    ):
        services.restore_backup(app, path, target_url, CLI)
    engine = make_engine(target_url)
    assert helpers.row_counts(engine) == counts
    engine.dispose()


def test_verify_restores_a_scratch_copy_checks_it_and_records_the_result(app, db, seeded, runner):
    created = services.create_backup(app, CLI)
    result = runner.invoke(args=["backup", "verify", "--latest"])
    assert result.exit_code == 0, result.output
    assert "verified" in result.output and "submission revisions opened" in result.output
    run = db.scalars(select(BackupRun)).one()
    assert run.file_name == created.path.name and run.verified_ok and run.size > 0
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("backups:%")))
    assert list(actions) == ["backups:backup:create", "backups:backup:verify"]


def test_the_status_fails_when_the_newest_verified_backup_is_too_old(app, seeded, runner):
    from portal import clock

    assert runner.invoke(args=["backup", "verify", "--latest", "--status"]).exit_code == 1
    services.verify_backup(app, _backup(app), CLI)
    fine = runner.invoke(args=["backup", "verify", "--latest", "--status"])
    assert fine.exit_code == 0, fine.output
    with clock.running_from(clock.now() + timedelta(hours=37)):
        late = runner.invoke(args=["backup", "verify", "--latest", "--status"])
    assert late.exit_code == 1 and "37 hours old" in late.output


def test_a_backup_of_a_tampered_audit_trail_fails_verification(app, db, seeded):
    from tests.audit.helpers import tamper

    tamper(db, ["UPDATE audit_event SET action = 'records:patient:create' WHERE seq = 3"])
    result = services.verify_backup(app, _backup(app), CLI)
    assert not result.ok
    assert "its audit chain breaks at entry 3" in result.message


def test_the_backups_page_shows_the_last_backup_to_the_dpo(app, db, seeded):
    from portal.permissions import Role
    from tests.helpers_auth import login, make_user

    services.verify_backup(app, _backup(app), CLI)
    dpo = make_user(db, "d.protection", role=Role.DPO)
    client = app.test_client()
    login(client, dpo)
    page = client.get("/backups/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Backups are verified." in body and "portal-" in body
    assert "kept at most 373 days" in body


def test_a_copy_directory_receives_each_backup(app, seeded, tmp_path):
    app.config["BACKUP_COPY_DIR"] = str(tmp_path / "offhost")
    (tmp_path / "offhost").mkdir()
    created = services.create_backup(app, CLI)
    copy = tmp_path / "offhost" / created.path.name
    assert copy.read_bytes() == created.path.read_bytes()
    assert created.copy_result == f"copied to {copy}"
    with new_session(app) as session:
        assert session.scalars(select(BackupRun.copy_result)).one() == created.copy_result


def test_the_dpo_reaches_the_page_from_the_footer_in_french_and_a_doctor_does_not(app, db, seeded):
    from portal.permissions import Role
    from tests.helpers_auth import login, make_user

    dpo = make_user(db, "d.protection", role=Role.DPO)
    client = app.test_client()
    login(client, dpo)
    client.get("/language/fr")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/backups/"' in home
    page = client.get("/backups/").get_data(as_text=True)
    assert "<h1>Sauvegardes</h1>" in page and "Aucune sauvegarde n'a encore été faite." in page

    doctor = app.test_client()
    login(doctor, db.scalars(select(User).where(User.login == "c.martin")).one())
    assert 'href="/backups/"' not in doctor.get("/").get_data(as_text=True)
    assert doctor.get("/backups/").status_code == 403


def test_a_failing_copy_command_makes_create_exit_1_and_keeps_the_backup(app, runner, tmp_path):
    script = tmp_path / "ship"
    script.write_text('#!/bin/sh\ncp "$1" "$(dirname "$0")/shipped" && exit "${SHIP_EXIT:-0}"\n')
    script.chmod(0o700)
    app.config["BACKUP_COPY_COMMAND"] = str(script)
    fine = runner.invoke(args=["backup", "create"])
    assert fine.exit_code == 0, fine.output
    assert "Off-host copy: copy command succeeded." in fine.output
    assert (tmp_path / "shipped").read_bytes().startswith(stream.MAGIC)

    app.config["BACKUP_COPY_COMMAND"] = f"/bin/sh -c 'exit 3' {script}"
    failed = runner.invoke(args=["backup", "create"])
    assert failed.exit_code == 1
    assert "Off-host copy: copy command failed with exit status 3." in failed.output
    assert len(services.backup_files(services.backup_dir(app))) == 2


def test_unwritable_places_and_bad_urls_get_one_sentence(app, runner, seeded, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    made = runner.invoke(args=["backup", "create", "--output", str(blocker / "sub")])
    assert made.exit_code == 1 and made.output.startswith("Error: No backup was made: ")
    assert "cannot be written" in made.output and "Traceback" not in made.output

    path = _backup(app)
    for url, message in [
        (f"sqlite:///{tmp_path / 'missing' / 'x.db'}", "cannot be written"),
        ("nonsense", "is not a database URL"),
        ("sqlite://", "only a SQLite database held in a file"),
    ]:
        if POSTGRES_URL and url.startswith("sqlite"):
            message = "it restores into postgresql only"
        result = runner.invoke(args=["backup", "restore", str(path), "--database", url])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    missing = runner.invoke(args=["backup", "verify", str(tmp_path / "none.aacbak")])
    assert missing.exit_code == 1 and "cannot be read" in missing.output


def test_a_case_purged_after_the_backup_is_purged_again_by_the_restore(app, db, target_url):
    from datetime import date

    from portal.records.models import Patient
    from portal.retention import services as retention
    from tests.records import helpers as records
    from tests.retention.helpers import patient_with_aac, run_on

    records.install_demo(db)
    place = records.site(db)
    doctor = records.professional(db, "c.martin", place)
    kept = records.register(db, doctor, place, surname_letters="Vyj")
    purged, case = patient_with_aac(
        db, doctor, place, granted=date(2027, 1, 10), ends=date(2027, 12, 31)
    )
    records.submit(db, doctor, purged, "initiation")
    path = _backup(app)
    # After the backup, retention purges the case (active 2 years after the AAC, then 1 in
    # the archive); the ledger keeps its opaque reference.
    app.config["RETENTION_ARCHIVE_YEARS"] = 1
    app.config["RETENTION_ACTIVE_YEARS"] = 2
    run_on(db, date(2028, 12, 31))
    db.expire_all()
    assert db.get(Patient, purged.id) is None
    assert [e.reference for e in retention.purge_ledger(db)] == [case.reference]
    db.rollback()

    restored = services.restore_backup(app, path, target_url, CLI)

    assert restored.purged_again == 1
    engine = make_engine(target_url)
    try:
        with helpers.session_on(app, engine) as session:
            numbers = set(session.scalars(select(Patient.case_number)))
            assert numbers == {kept.case_number}
            assert [e.reference for e in retention.purge_ledger(session)] == [case.reference]
            actions = list(
                session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq.desc()).limit(3))
            )
            assert actions[0] == "backups:database:restore"
            assert "retention:ledger:reapply" in actions
            assert verify_chain(session).ok
    finally:
        engine.dispose()


def test_a_chunk_failing_during_the_restore_itself_leaves_the_target_empty(
    app, seeded, target_url, monkeypatch
):
    # As if the file changed between the authentication pass and the restore pass: the
    # restore is already under way when the damaged chunk arrives.
    path = _backup(app)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))
    monkeypatch.setattr(
        services, "authenticate", lambda p, ring: services._Reader(p, ring).manifest
    )

    with pytest.raises(BackupError, match="fails authentication"):
        services.restore_backup(app, path, target_url, CLI)
    assert _target_is_empty(target_url)


def test_a_backup_taken_while_the_portal_writes_is_one_consistent_snapshot(app, seeded):
    import threading

    from portal.audit.services import record

    stop = threading.Event()
    written = []

    def write() -> None:
        with new_session(app) as session:
            while not stop.is_set():
                record(session, CLI, "records:patient:read", ("patient", "P1"))
                session.commit()
                written.append(1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 5:
            stop.wait(0.01)
        before = len(written)
        path = _backup(app)
        after = len(written)
    finally:
        stop.set()
        writer.join()
    assert after > before  # entries were written while the backup ran

    result = services.verify_backup(app, path, CLI)
    assert result.ok, result.message
