"""Demo patients with filled forms, for the demo prescriber (twice is the same as once)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.protocols.builder import validate_answers
from portal.records import clinic_time, registrations, submissions
from portal.records.duplicate_index import duplicate_index
from portal.records.models import Patient
from portal.records.versions import in_force
from portal.sealing import ring_of

DEMO_PROTOCOL_KEY = "put_sp_xyz123"
DEMO_PRESCRIBER = "c.martin"


def _initiation(start: date) -> dict[str, Any]:
    return {
        "info_note_given": "yes", "info_note_recipient": "patient",
        "info_note_date": (start - timedelta(days=3)).isoformat(),
        "diagnosis_date": "2021-09", "indication": "IND-1", "disease_severity": "severe",
        "any_prior_treatment": "yes",
        "prior_treatments": [{"prior_atc": "H02AB07", "prior_line": 1,
                              "prior_best_response": "SD", "prior_stop_reason": "inefficacy"},
                             {"prior_atc": "L04AX01", "prior_line": 2,
                              "prior_best_response": "PD", "prior_stop_reason": "toxicity"}],
        "comorbidities": [{"comorbidity_pt": "10020772"}], "wocbp": "no",
        "start_date": start.isoformat(), "dose_value": "50", "dose_unit": "mg",
        "frequency": "QD", "route": "oral", "baseline_efficacy_score": 62,
        "baseline_biomarker_status": "done", "baseline_biomarker": "41.5",
    }


def _follow_up(code: str, visit: date, weight: str) -> dict[str, Any]:
    return {
        "visit_timepoint": code, "visit_date": visit.isoformat(), "visit_mode": "in_person",
        "renewal_visit": "no", "hospitalised_since_last": "no", "weight_kg": weight,
        "height_cm": 172, "systolic_bp": 128, "diastolic_bp": 79, "ecog": "1",
        "on_treatment": "yes", "dose_change": "none", "current_dose_value": "50",
        "current_dose_unit": "mg", "current_frequency": "QD", "adherence": "gt90",
        "efficacy_global": "improved", "efficacy_score": 48, "patient_reported_change": "better",
        "flares": 0, "biomarker_status": "not_done", "labs_status": "not_done",
        "new_ae_since_last": "yes", "serious_ae_since_last": "no", "pregnancy_since_last": "no",
        "medication_error": "no", "overdose": "no", "continuation_decision": "continue",
        "renewal_requested": "no", "any_concomitant": "no",
    }


def _adverse_event(onset: date) -> dict[str, Any]:
    return {"meddra_llt_code": "10028813", "onset_date": onset.isoformat(), "ongoing": "no",
            "end_date": (onset + timedelta(days=5)).isoformat(), "serious": "no",
            "severity": "G1", "causality": "possibly_related", "action_taken": "none",
            "outcome": "recovered", "reported_to_crpv": "no"}


#: (surname letters, first-name letters, sex, birth year, month, days since treatment start)
DEMO_PATIENTS = (
    ("Ber", "Lu", "F", 1968, 5, 100),
    ("Gau", "Pa", "M", 1955, 11, 50),
    ("Rob", "In", "F", 1982, 2, None),
)


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Register a few demo patients with an initiation, follow-ups and an adverse event."""
    version = in_force(session, DEMO_PROTOCOL_KEY)
    prescriber = session.scalar(select(User).where(User.login == DEMO_PRESCRIBER))
    if version is None or prescriber is None:
        return ["Demo patients: skipped (no demo protocol or no demo prescriber)."]
    places = registrations.registration_establishments(session, prescriber)
    if not places:
        return ["Demo patients: skipped (the demo prescriber has no establishment)."]
    place = places[0]
    today = clinic_time.clinical_today(session)
    lines = []
    for surname, first, sex, year, month, started in DEMO_PATIENTS:
        letters = f"{surname.upper()}-{first.upper()}"
        index = duplicate_index(ring_of(session), letters, year, month, sex, place.id)
        if session.scalar(select(Patient.id).where(Patient.duplicate_index == index)):
            continue
        patient = registrations.register_patient(session, prescriber, registrations.Registration(
            surname_letters=surname, first_name_letters=first, sex=sex, birth_year=year,
            birth_month=month, establishment_id=place.id, protocol_key=DEMO_PROTOCOL_KEY,
            weight_kg="71.0", height_cm=172))
        if started is not None:
            start = today - timedelta(days=started)
            _submit(session, prescriber, patient, "initiation", _initiation(start), today)
            if started >= 90:
                _submit(session, prescriber, patient, "follow_up",
                        _follow_up("M1", start + timedelta(days=31), "70.2"), today)
                visit = _submit(session, prescriber, patient, "follow_up",
                                _follow_up("M3", start + timedelta(days=92), "69.8"), today)
                _submit(session, prescriber, patient, "adverse_event",
                        _adverse_event(start + timedelta(days=80)), today, parent=visit)
        lines.append(f"Demo patient {patient.case_number} ({place.name})")
    return lines or ["Demo patients: already there."]


def _submit(session: Session, actor: Any, patient: Patient, form_key: str,
            answers: dict[str, Any], today: date, parent: Any = None) -> Any:
    ref = submissions.current_form(session, patient, form_key)
    result = validate_answers(ref.protocol, form_key, answers, today=today)
    if not result.valid:
        raise ValueError(f"demo answers of {form_key} are not valid: {result.errors}")
    return submissions.submit(session, actor, patient, ref, result.answers,
                              submissions.new_token(), parent=parent)
