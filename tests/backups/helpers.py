"""Backups test helpers: seed every kind of record through the services, read them back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Engine, func, inspect, select, table
from sqlalchemy.orm import Session

from portal.records import attach_engine, submissions
from portal.records.models import Submission
from portal.rights import services as rights
from portal.rights.models import RequestKind
from tests.records import helpers as records

CLI = records.CLI


@dataclass
class Seeded:
    #: distinctive values typed into the portal, that no backup may show in clear
    secrets: list[str]


def seed(db: Session) -> Seeded:
    """Accounts, grants, patients, submissions with a rectification, a rights request, audit."""
    records.install_demo(db)
    place = records.site(db)
    doctor = records.professional(db, "c.martin", place)
    values = [*records.DISTINCTIVE.values(), "c.martin@example.org"]
    for index, letters in enumerate(("Zqx", "Vyj")):
        patient = records.register(
            db, doctor, place, surname_letters=letters, birth_year=1950 + index
        )
        records.submit(db, doctor, patient, "initiation")
        follow_up = records.submit(db, doctor, patient, "follow_up")
        changed = records.valid(db, "follow_up", records.follow_up_answers(weight_kg="88.8"))
        submissions.rectify(
            db,
            doctor,
            follow_up,
            changed,
            "transcription_error",
            submissions.new_token(),
            follow_up.version,
        )
        db.commit()
        values.append(patient.case_number)
    rights.submit_request(db, doctor, kind=RequestKind.ACCESS, case_number=patient.case_number)
    db.commit()
    return Seeded(values)


def session_on(app: Flask, engine: Engine) -> Session:
    attach_engine(app, engine)
    session = Session(bind=engine)
    session.info["portal.app"] = app
    return session


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.scalar(select(func.count()).select_from(table(name)))
            for name in inspect(connection).get_table_names()
            if name != "alembic_version"
        }


def every_revision(session: Session) -> dict[tuple[int, int], Any]:
    """Every revision of every submission, decrypted, by (submission id, revision number)."""
    opened = {}
    for submission in session.scalars(select(Submission).order_by(Submission.id)):
        for revision in submission.revisions:
            opened[(submission.id, revision.number)] = submissions.open_revision(
                session, CLI, submission, revision
            )
    return opened
