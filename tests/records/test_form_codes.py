"""Which form a patient has (an adverse event, a pregnancy) is health data: the database keeps
form keys only as opaque keyed codes, and so do the audit details (issue 26)."""

from __future__ import annotations

import re

from alembic import command
from sqlalchemy import select, text

from portal import migrate
from portal.audit.models import AuditEvent
from portal.db import get_engine
from portal.protocols.services import current_version
from portal.records import pharmacovigilance
from portal.records.models import Patient, Submission
from tests.helpers_auth import login
from tests.records import helpers
from tests.records.test_identifier_disguises import database_text
from tests.records.test_submissions import TOKEN

REVEALING = (b"adverse_event", b"pregnancy")
BEFORE = "d7b3f1a9c2e6"


def pregnancy_answers() -> dict[str, str]:
    return {
        "exposed_person": "patient",
        "exposure_ga_weeks": "8",
        "exposure_trimester": "T1",
        "pregnancy_outcome": "ongoing",
    }


def _post(client, db, patient, form_key: str, answers: dict, parent) -> str:  # noqa: ANN001
    path = f"/patients/{patient.handle}/forms/{form_key}?after={parent.handle}"
    page = client.get(path).get_data(as_text=True)
    data = helpers.form_data(answers, form_key, db)
    data.update(
        token=TOKEN.search(page).group(1), action="submit", parent=parent.handle, version=""
    )
    response = client.post(path, data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"]


def _events(app, client, db, prescriber, pharmacovigilance_person, patient):  # noqa: ANN001, ANN202
    helpers.submit(db, prescriber, patient, "initiation")
    follow_up = helpers.submit(db, prescriber, patient, "follow_up")
    login(client, prescriber)
    shown = []
    for form_key, answers in (
        ("adverse_event", helpers.adverse_event_answers()),
        ("pregnancy", pregnancy_answers()),
    ):
        where = _post(client, db, patient, form_key, answers, follow_up)
        shown.append(client.get(where).get_data(as_text=True))
    db.expire_all()
    for event in db.scalars(
        select(Submission).where(Submission.form_key.in_(["adverse_event", "pregnancy"]))
    ):
        pharmacovigilance.hand_off(db, pharmacovigilance_person, event)
    db.commit()
    return shown


def _outside_the_protocol_text(app, db, stored: bytes) -> list[bytes]:  # noqa: ANN001
    """Each occurrence of a revealing key that is not a copy of the installed definition."""
    definition = current_version(db, helpers.PROTOCOL_KEY).source_text.encode()
    found = []
    for word in REVEALING:
        for match in re.finditer(re.escape(word), stored):
            start, end = match.start(), match.end()
            # A page boundary may cut the copy on one side, never on both within 24 bytes.
            if stored[start - 24 : end] in definition or stored[start : end + 24] in definition:
                continue
            found.append(stored[max(0, start - 40) : end + 40])
    return found


def test_the_database_never_says_which_form_a_patient_has(
    app, client, db, prescriber, pharmacovigilance, patient
) -> None:
    shown = _events(app, client, db, prescriber, pharmacovigilance, patient)
    # The people allowed to see them still read which form it is.
    assert "F4. Adverse event" in shown[0] or "F4. Effet indésirable" in shown[0]
    assert "F5. Pregnancy" in shown[1] or "F5. Exposition pendant la grossesse" in shown[1]
    # Queries by form key keep working; the column itself holds codes of one length.
    db.expire_all()
    assert db.scalar(select(Submission).where(Submission.form_key == "pregnancy")) is not None
    raw = db.execute(text("SELECT form_key FROM submission")).scalars().all()
    assert len(raw) == 4 and all(re.fullmatch(r"fk1_[0-9a-f]{32}", code) for code in raw)
    # The audit details name the form by its code only.
    details = [str(e.details) for e in db.scalars(select(AuditEvent))]
    assert any("fk1_" in d for d in details)
    assert not [d for d in details if "adverse_event" in d or "pregnancy" in d]
    if app.config["DATABASE_URL"].startswith("sqlite"):
        stored = database_text(app, db)
        assert _outside_the_protocol_text(app, db, stored) == []
    else:
        db.commit()
        dump = b"\n".join(
            row[0].encode()
            for table in (
                "submission",
                "submission_revision",
                "audit_event",
                "event_hand_off",
                "patient",
            )
            for row in db.execute(text(f"SELECT t::text FROM {table} t"))
        )  # noqa: S608
        assert dump and not [w for w in REVEALING if w in dump]
        every = database_text(app, db)
        assert _outside_the_protocol_text(app, db, every) == []


def _release_stale_transactions(app) -> None:  # noqa: ANN001
    """An earlier test of the process may have left a connection idle in a transaction (a
    stream it did not finish); on PostgreSQL its locks would make the downgrade's DROP TABLE
    wait for ever."""
    engine = get_engine(app)
    engine.dispose()
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"))
        connection.commit()
    engine.dispose()


def test_the_migration_turns_stored_keys_into_codes_and_back(app, db, prescriber, patient) -> None:
    helpers.submit(db, prescriber, patient, "initiation")
    db.commit()
    db.close()
    _release_stale_transactions(app)
    # The suite's databases are created from the models: say they are at the head.
    command.stamp(migrate.alembic_config(app), "head")
    migrate.downgrade(app, BEFORE)
    with get_engine(app).connect() as connection:
        rows = connection.execute(text("SELECT form_key, singleton_key FROM submission")).all()
    assert rows == [("initiation", "initiation")]
    migrate.upgrade(app)
    with get_engine(app).connect() as connection:
        code, singleton = connection.execute(
            text("SELECT form_key, singleton_key FROM submission")
        ).one()
    assert code.startswith("fk1_") and singleton == code
    assert db.scalar(select(Submission.form_key)) == "initiation"
    # The patient's opaque reference (90d1ce2934e4) is computed again from its case number.
    assert db.scalar(select(Patient.reference)) == patient.reference
