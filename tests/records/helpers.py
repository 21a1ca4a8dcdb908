"""Records test helpers: people and sites, valid answers for the demo protocol, form posting.

State is set up through the same services the pages call.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from portal import clock
from portal.access import services as access
from portal.access.models import Category, Establishment, Scope
from portal.accounts.models import User
from portal.audit.services import cli_actor
from portal.permissions import Role
from portal.protocols.builder import validate_answers
from portal.protocols.models import ProtocolVersion
from portal.protocols.services import current_version, install_protocol
from portal.records import registrations, submissions
from portal.records.models import Patient, Submission
from tests.helpers_auth import grant_role, make_user

CLI = cli_actor("tests")
DEMO_PROTOCOL = Path(__file__).resolve().parents[2] / "forms" / "put-sp-demo.yaml"
PROTOCOL_KEY = "put_sp_xyz123"
FINESS_A = "750712184"
FINESS_B = "330781196"

#: typed values that must never appear in clear in the database (raw-bytes tests)
DISTINCTIVE = {
    "letters": "ZQX-WK",
    "aac_ref": "AAC-2024-987654",
    "dose": "1234.5",
    "biomarker": "876.4",
    "weight": "93.7",
    "score": "77",
}


def today() -> date:
    return clock.now().date()


def install_demo(db: Session) -> ProtocolVersion:
    """Install the demo protocol (idempotent) and publish a patient information note."""
    version = current_version(db, PROTOCOL_KEY) or install_protocol(db, CLI, DEMO_PROTOCOL).version
    publish_patient_note(db)
    db.commit()
    return version


def publish_patient_note(db: Session) -> None:
    from portal.notices import services as notices
    from portal.notices.catalog import Audience
    from tests.notices.conftest import publish_notice

    if notices.current_published(db, Audience.PATIENT) is None:
        publish_notice(db, Audience.PATIENT, commit=False)


def site(db: Session, finess: str = FINESS_A, name: str = "Centre hospitalier Alpha"
         ) -> Establishment:
    found = access.establishment_by_finess(db, finess)
    if found is None:
        found = access.create_establishment(db, CLI, finess, name, "Lyon")
        db.commit()
    return found


def professional(db: Session, login: str, establishment: Establishment,
                 role: Role = Role.PRESCRIBER, scope: Scope = Scope.IDENTIFYING) -> User:
    """A healthcare professional member of `establishment` with a grant there (committed)."""
    user = make_user(db, login)
    access.add_member(db, CLI, user, establishment)
    grant_role(db, user, role, scope=scope, category=Category.HEALTH,
               establishments=(establishment,))
    db.commit()
    return user


def lab_person(db: Session, login: str, role: Role, scope: Scope = Scope.PSEUDONYMISED
               ) -> User:
    """A laboratory person with a grant covering every establishment (committed)."""
    user = make_user(db, login, role=role, scope=scope)
    db.commit()
    return user


def registration(establishment: Establishment, **overrides: Any) -> registrations.Registration:
    values: dict[str, Any] = dict(
        surname_letters="Zqx", first_name_letters="Wk", sex="F", birth_year=1961,
        birth_month=4, establishment_id=establishment.id, protocol_key=PROTOCOL_KEY,
        weight_kg="64.2", height_cm=168,
    )
    values.update(overrides)
    return registrations.Registration(**values)


def register(db: Session, actor: Any, establishment: Establishment, *, confirm: bool = False,
             **overrides: Any) -> Patient:
    """Register a patient through the service (committed)."""
    patient = registrations.register_patient(db, actor, registration(establishment, **overrides),
                                        confirm_duplicate=confirm)
    db.commit()
    return patient


def month_before(day: date) -> date:
    """The same day a month earlier (the last day of that month when it is shorter)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError(day)


def initiation_answers(start: date | None = None) -> dict[str, Any]:
    # By default the treatment started a month ago: a follow-up M1 dated today is on time.
    start = start or month_before(today())
    return {
        "info_note_given": "yes", "info_note_recipient": "patient",
        "info_note_date": (start - timedelta(days=2)).isoformat(),
        "diagnosis_date": "2019-06", "indication": "IND-1", "disease_severity": "severe",
        "any_prior_treatment": "yes",
        "prior_treatments": [{"prior_atc": "L01BA01", "prior_line": 1,
                              "prior_best_response": "PD"}],
        "wocbp": "no",
        "start_date": start.isoformat(), "dose_value": DISTINCTIVE["dose"], "dose_unit": "mg",
        "frequency": "QD", "route": "oral",
        "baseline_efficacy_score": int(DISTINCTIVE["score"]),
        "baseline_biomarker_status": "done", "baseline_biomarker": DISTINCTIVE["biomarker"],
    }


def follow_up_answers(timepoint: str = "M1", visit: date | None = None, **extra: Any
                      ) -> dict[str, Any]:
    visit = visit or today()
    answers = {
        "visit_timepoint": timepoint, "visit_date": visit.isoformat(),
        "visit_mode": "in_person", "renewal_visit": "no", "hospitalised_since_last": "no",
        "weight_kg": DISTINCTIVE["weight"], "height_cm": 171, "ecog": "1",
        "on_treatment": "yes", "dose_change": "none", "current_dose_value": "50",
        "current_dose_unit": "mg", "current_frequency": "QD", "adherence": "gt90",
        "efficacy_global": "improved", "patient_reported_change": "better", "flares": 0,
        "biomarker_status": "not_done", "labs_status": "not_done",
        "new_ae_since_last": "no", "pregnancy_since_last": "no", "medication_error": "no",
        "overdose": "no", "continuation_decision": "continue", "renewal_requested": "no",
        "any_concomitant": "no",
    }
    answers.update(extra)
    return answers


def access_answers() -> dict[str, Any]:
    decision = today() - timedelta(days=30)
    return {
        "aac_ansm_ref": DISTINCTIVE["aac_ref"], "aac_decision_date": decision.isoformat(),
        "aac_end_date": (decision + timedelta(days=300)).isoformat(), "renewal_no": 0,
        "indication": "IND-1", "establishment_finess": FINESS_A,
        "prescriber_rpps": "10000000009", "pharmacist_rpps": "10012345673",
        "pat_surname3": "ZQX", "pat_firstname2": "WK", "sex": "F",
        "birth_month_year": "1961-04", "weight_kg": "64.2", "height_cm": 168,
        "crit_diagnosis_confirmed": "yes", "crit_no_alternative": "yes",
        "crit_not_in_trial": "yes", "treatment_deferrable": "no",
    }


def adverse_event_answers() -> dict[str, Any]:
    onset = today() - timedelta(days=3)
    return {
        "meddra_llt_code": "10019211", "onset_date": onset.isoformat(), "ongoing": "yes",
        "serious": "no", "severity": "G2", "causality": "possibly_related",
        "action_taken": "none", "outcome": "recovering", "reported_to_crpv": "no",
    }


def discontinuation_answers(stop: date | None = None) -> dict[str, Any]:
    stop = stop or today()
    return {"stop_date": stop.isoformat(), "last_dose_date": stop.isoformat(),
            "stop_reason": "patient_decision", "last_efficacy_global": "stable"}


ANSWERS = {
    "initiation": initiation_answers, "follow_up": follow_up_answers, "access": access_answers,
    "adverse_event": adverse_event_answers, "discontinuation": discontinuation_answers,
}


def valid(db: Session, form_key: str, answers: dict[str, Any]) -> dict[str, Any]:
    """Run answers through the protocol form; fail the test with the errors if invalid."""
    version = current_version(db, PROTOCOL_KEY)
    assert version is not None
    ref = submissions.form_ref(version, form_key)
    result = validate_answers(ref.protocol, form_key, answers, today=today())
    assert result.valid, result.errors
    return result.answers


def submit(db: Session, actor: Any, patient: Patient, form_key: str,
           answers: dict[str, Any] | None = None, parent: Submission | None = None
           ) -> Submission:
    """Validate and submit a form through the services (committed)."""
    answers = valid(db, form_key, answers if answers is not None else ANSWERS[form_key]())
    ref = submissions.current_form(db, patient, form_key)
    saved = submissions.submit(db, actor, patient, ref, answers, submissions.new_token(),
                               parent=parent)
    db.commit()
    return saved


def form_data(answers: dict[str, Any], form_key: str, db: Session) -> dict[str, Any]:
    """Turn answers into what the browser posts (`f_<key>`, repeated `s_<sec>-<i>-f_<key>`)."""
    version = current_version(db, PROTOCOL_KEY)
    assert version is not None
    definition = submissions.form_ref(version, form_key).definition
    repeated = {s.key for s in definition.sections if s.repeat is not None}
    data: dict[str, Any] = {}
    for key, value in answers.items():
        if key in repeated:
            for index, entry in enumerate(value):
                for sub_key, sub_value in entry.items():
                    data[f"s_{key}-{index}-f_{sub_key}"] = str(sub_value)
        elif isinstance(value, list):
            data[f"f_{key}"] = [str(v) for v in value]
        else:
            data[f"f_{key}"] = str(value)
    return data
