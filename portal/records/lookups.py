"""Finding patients and forms without opening anything: case number, blind index, forms in use."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import distinct, select
from sqlalchemy.orm import Session

from portal.identifiers import normalise_name_letters
from portal.protocols.models import ProtocolVersion
from portal.records.actions import RecordsAction
from portal.records.duplicate_index import duplicate_index
from portal.records.models import Patient, Submission
from portal.records.policy import log_read, view_for
from portal.sealing import case_reference, ring_of


def forms_with_submissions(session: Session, protocol_key: str) -> set[str]:
    """Return the keys of the forms that have stored submissions (drafts too) under a protocol."""
    return set(session.scalars(
        select(distinct(Submission.form_key))
        .join(ProtocolVersion, ProtocolVersion.id == Submission.protocol_version_id)
        .where(ProtocolVersion.protocol_key == protocol_key)
    ))


def patient_by_case_number(session: Session, actor: Any, case_number: str) -> Patient | None:
    """Return the patient with this case number if the actor reaches it (read logged)."""
    view = view_for(session, actor)
    patient = session.scalar(select(Patient).where(
        Patient.case_number == (case_number or "").strip().upper()))
    if patient is None or not view.covers(patient):
        return None
    log_read(session, actor, RecordsAction.PATIENT_READ, patient, purpose="lookup")
    return patient


def probable_patients(session: Session, actor: Any, surname_letters: str,
                      first_name_letters: str, birth_year: int, birth_month: int, sex: str,
                      establishment_id: int) -> list[Patient]:
    """Return the patients the actor reaches whose blind index matches this identity.

    Used to match a rights request to a patient without decrypting every identity.
    """
    view = view_for(session, actor)
    try:
        letters = (f"{normalise_name_letters(surname_letters, 3)}-"
                   f"{normalise_name_letters(first_name_letters, 2)}")
    except ValueError:
        return []
    index = duplicate_index(ring_of(session), letters, birth_year, birth_month, sex,
                            establishment_id)
    found = [p for p in session.scalars(select(Patient).where(Patient.duplicate_index == index))
             if view.covers(p)]
    for patient in found:
        log_read(session, actor, RecordsAction.PATIENT_READ, patient, purpose="identity_match")
    return found


def case_numbers_of(session: Session, references: set[str]) -> dict[str, str]:
    """The case number of each opaque case reference still in the active base (the audit
    pages show it beside the reference the entry holds)."""
    return dict(session.execute(select(Patient.reference, Patient.case_number)
                                .where(Patient.reference.in_(sorted(references)))).tuples().all())


#: a whole case number, with or without its dash (the alphabet of `new_case_number`)
_CASE_NUMBER = re.compile(r"^([0-9A-HJKMNP-TV-Z]{4})-?([0-9A-HJKMNP-TV-Z]{4})$")


def reference_of_case_number(session: Session, typed: str) -> str | None:
    """The opaque reference of a typed case number (whether or not the case still exists), or
    None when the text is not a case number: what the trail finds the case's entries by, and
    what the auditor's own search is logged as instead of the number."""
    found = _CASE_NUMBER.match((typed or "").strip().upper().replace(" ", ""))
    if found is None:
        return None
    return case_reference(ring_of(session), f"{found.group(1)}-{found.group(2)}")
