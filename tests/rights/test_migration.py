"""The rights migration: the new rules are in the upgraded schema, and typed values already
stored are sealed, not lost."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from portal import migrate
from portal.config import PROJECT_ROOT
from portal.db import get_engine, new_session
from portal.rights import references
from portal.rights.models import RightsRequest
from tests.test_migrations import _app, empty_database_url  # noqa: F401 - the fixture

#: the revision just before the rights migration (read from it, so that rechaining keeps it right)
BEFORE = next(
    line.split("=", 1)[1].strip().strip("'\"")
    for line in next((PROJECT_ROOT / "migrations" / "versions").glob("*_5e1a7c93d2b4_*.py"))
    .read_text(encoding="utf-8").splitlines()
    if line.startswith("down_revision"))
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "handle": "legacy-" + str(len(changes)), "kind": "access",
        "requester_type": "legal_representative", "channel": "post", "state": "received",
        "received_at": NOW, "original_due_on": date(2026, 12, 20), "due_on": date(2026, 12, 20),
        "manual_review": False, "created_at": NOW}
    row.update(changes)
    return row


def _insert(connection, row: dict[str, object]) -> None:  # noqa: ANN001
    columns = ", ".join(row)
    values = ", ".join(f":{key}" for key in row)
    connection.execute(text(f"INSERT INTO rights_request ({columns}) VALUES ({values})"), row)


def test_typed_values_already_stored_are_sealed_by_the_upgrade(
        empty_database_url, tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001, F811
    app = _app(empty_database_url, tmp_path, key_file, monkeypatch)
    migrate.upgrade(app, BEFORE)
    engine = get_engine(app)
    with engine.begin() as connection:
        _insert(connection, _row(case_reference="QX4K-7MWP", correspondence_ref="REG-58213"))
        request_id = connection.execute(text("SELECT id FROM rights_request")).scalar()
        connection.execute(text(
            "INSERT INTO rights_request_event (request_id, to_state, actor_label, at, reason) "
            "VALUES (:id, 'received', 'claire.dpo', :at, 'received')"), {"id": request_id,
                                                                       "at": NOW})
    # Outside the portal the key file is not at hand: the upgrade says so and changes nothing.
    with pytest.raises(RuntimeError, match="portal db upgrade"):
        migrate.upgrade(app)
    assert migrate.current_revision(app) == BEFORE
    with app.app_context():
        migrate.upgrade(app)
    columns = {c["name"] for c in inspect(engine).get_columns("rights_request")}
    assert "case_reference" not in columns and "correspondence_ref" not in columns
    with new_session(app) as session:
        request = session.query(RightsRequest).one()
        assert references.read_details(session, request) == {
            "case_reference": "QX4K-7MWP", "correspondence_ref": "REG-58213"}
        assert request.case_index == references.case_index(session, "QX4K-7MWP")
        # The request's history went through the table rebuild with it.
        assert [event.reason for event in request.events] == ["received"]
    engine.dispose()


def test_the_upgraded_schema_holds_the_new_rules(
        empty_database_url, tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001, F811
    app = _app(empty_database_url, tmp_path, key_file, monkeypatch)
    migrate.upgrade(app)
    engine = get_engine(app)
    with engine.begin() as connection:
        _insert(connection, _row(handle="web", requester_type="patient_direct", channel="web",
                                 state="unverified", manual_review=True))
    later = datetime(2026, 11, 25, tzinfo=UTC)
    for bad in (
        _row(handle="no-relation", case_index="ab" * 32, manual_review=True, state="answered",
             answered_at=later, review_cleared_at=later, identity_confirmed_at=later),
        _row(handle="no-subject"),
        _row(handle="fax", case_index="ab" * 32, channel="fax"),
        _row(handle="doctor", case_index="ab" * 32, requester_type="patient_via_doctor",
             doctor_rpps="10003456786", state="answered", answered_at=later),
    ):
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _insert(connection, bad)
    engine.dispose()
