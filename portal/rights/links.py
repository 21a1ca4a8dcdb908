"""Where the rights area meets the others: cases and establishments, professionals, records.

Kept in one module so that the rules about who may name which case, and what a copy of the
data holds, read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access.models import Establishment
from portal.accounts.models import User
from portal.errors import BadRequest, Conflict
from portal.identifiers import normalise_finess, normalise_rpps
from portal.records import reading
from portal.records.models import Patient, Submission, SubmissionRevision
from portal.rights.models import RightsRequest
from portal.rights.references import read_details


def find_case(session: Session, case_reference: str | None) -> int | None:
    """Return the id of the patient with this (canonical) case number, or None."""
    if not case_reference:
        return None
    return session.scalar(select(Patient.id).where(Patient.case_number == case_reference))


def followed_case(session: Session, user: User, case_reference: str | None) -> int | None:
    """Return the patient of this case number if the professional may read that patient's
    record now (establishment perimeter and grants, as for every read), else None.

    Nothing tells apart a case outside the perimeter from a case that does not exist.
    """
    if not case_reference:
        return None
    patient = session.scalar(select(Patient).where(Patient.case_number == case_reference))
    if patient is None or not reading.may_read(session, user, patient):
        return None
    return patient.id


def follows(session: Session, user: Any, patient_id: int | None) -> bool:
    """Tell whether the person may read this patient's record now."""
    patient = session.get(Patient, patient_id) if patient_id else None
    if patient is None or not getattr(user, "id", None):
        return False
    return reading.may_read(session, user, patient)


@dataclass(frozen=True)
class LinkedVersion:
    """A rectification version a request produced (the handling area lists them)."""

    submission_handle: str
    form_key: str
    number: int
    reason: str | None
    author_label: str
    at: datetime


@dataclass(frozen=True)
class CaseSummary:
    """What the DPO sees of a request's case: number, establishment, whether limited."""

    case_number: str
    establishment: str
    limited: bool


def case_summary(session: Session, request: RightsRequest) -> CaseSummary | None:
    """Return the case of a request for the DPO's page, or None when not matched."""
    if request.patient_id is None:
        return None
    patient = session.get(Patient, request.patient_id)
    if patient is None:
        return None
    return CaseSummary(patient.case_number, patient.establishment.name, patient.is_limited)


def recipient_label(session: Session, request: RightsRequest) -> str | None:
    """Return who receives the answer in the portal (name and establishment-free)."""
    user_id = request.submitted_by_id or request.via_professional_id
    user = session.get(User, user_id) if user_id else None
    if user is not None:
        return f"{user.full_name} ({user.login})"
    if request.doctor_rpps:
        name = read_details(session, request).get("doctor_name", "")
        return str(_l("%(name)s (RPPS %(rpps)s), without a portal account: by post, at the "
                      "address of the RPPS directory", name=name, rpps=request.doctor_rpps))
    return None


def rpps_user(session: Session, rpps: str) -> User | None:
    """Return the portal account with this RPPS number, if the doctor has one."""
    return session.scalar(select(User).where(User.rpps == rpps))


def find_professional(session: Session, login_or_rpps: str | None) -> User | None:
    """Return the professional with this login or RPPS number, None when nothing was typed.

    :raises BadRequest: when something was typed but matches nobody.
    """
    typed = (login_or_rpps or "").strip()
    if not typed:
        return None
    rpps = normalise_rpps(typed)
    if rpps is not None:
        user = session.scalar(select(User).where(User.rpps == rpps))
    else:
        user = session.scalar(select(User).where(User.login_normalised == typed.casefold()))
    if user is None:
        raise BadRequest(str(_l("No professional has this login or RPPS number.")))
    return user


def find_establishment(session: Session, finess: str | None) -> int | None:
    """Return the id of the establishment with this FINESS number, None when none was typed.

    :raises BadRequest: when something was typed but matches no establishment.
    """
    typed = (finess or "").strip()
    if not typed:
        return None
    found = session.scalar(select(Establishment.id).where(
        Establishment.finess == normalise_finess(typed)))
    if found is None:
        raise BadRequest(str(_l("No establishment has this FINESS number.")))
    return found


def professional_copy(session: Session, user_id: int | None) -> dict[str, Any]:
    """Return a professional's own data (RGT-06): profile, establishments, grants, forms.

    The forms they authored are listed by metadata only, never with patient content.
    """
    user = session.get(User, user_id) if user_id else None
    if user is None:
        return {"profile": {}, "establishments": [], "grants": [], "forms": [], "sources": []}
    from portal.access.models import AccessGrant, membership

    establishments = session.scalars(
        select(Establishment).join(membership, membership.c.establishment_id == Establishment.id)
        .where(membership.c.user_id == user.id).order_by(Establishment.name)
    ).all()
    grants = session.scalars(select(AccessGrant).where(AccessGrant.user_id == user.id)
                             .order_by(AccessGrant.valid_from)).all()
    forms = session.execute(
        select(Submission.form_key, Submission.status, Submission.submitted_at,
               Submission.created_at)
        .where(Submission.created_by_id == user.id).order_by(Submission.created_at)
    ).all()
    return {
        "profile": {
            "login": user.login, "first_name": user.first_name, "last_name": user.last_name,
            "email": user.email, "phone": user.phone, "specialty": user.specialty,
            "rpps": user.rpps, "language": user.locale,
            "account_created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at),
        },
        "establishments": [{"finess": e.finess, "name": e.name, "city": e.city}
                           for e in establishments],
        "grants": [{"role": g.role, "scope": g.scope, "category": g.category,
                    "valid_from": _iso(g.valid_from), "valid_until": _iso(g.valid_until),
                    "status": g.status} for g in grants],
        "acknowledgements": _acknowledgements(session, user),
        "forms": [{"form": row.form_key, "status": row.status,
                   "created_at": _iso(row.created_at), "submitted_at": _iso(row.submitted_at)}
                  for row in forms],
        "sources": [],
    }


def _acknowledgements(session: Session, user: User) -> list[dict[str, Any]]:
    from portal.notices.models import NoticeAcknowledgement, NoticeVersion

    rows = session.execute(
        select(NoticeVersion.audience, NoticeVersion.number, NoticeAcknowledgement.acknowledged_at)
        .join(NoticeVersion, NoticeVersion.id == NoticeAcknowledgement.notice_version_id)
        .where(NoticeAcknowledgement.user_id == user.id)
        .order_by(NoticeAcknowledgement.acknowledged_at)
    ).all()
    return [{"notice": row.audience, "version": row.number,
             "acknowledged_at": _iso(row.acknowledged_at)} for row in rows]


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


# --- the records: a copy of the data, limitation, rectification ------------------------------


def _patient_by_id(session: Session, patient_id: int | None) -> Patient:
    patient = session.get(Patient, patient_id) if patient_id else None
    if patient is None:
        raise Conflict(str(_l("The request is not matched to a patient.")))
    return patient


def _patient(session: Session, request: RightsRequest) -> Patient:
    return _patient_by_id(session, request.patient_id)


def patient_copy(session: Session, actor: Any, patient_id: int | None, lang: str,
                 form_kinds: frozenset[str] | None = None) -> dict[str, Any]:
    """Return a copy of a patient's data, decrypted: identity and every submitted form.

    Each form lists every answered field with its label and the value as read, plus its
    history (who changed it, when, why). `form_kinds` narrows the forms (a relative only
    gets the forms about a related person's exposure). The decryption is logged as a read
    of the patient's record made for a rights request.
    """
    patient = _patient_by_id(session, patient_id)
    case = reading.case_record(session, actor, patient, purpose=reading.Purpose.RIGHTS_REQUEST,
                               form_kinds=form_kinds)
    identity = case.identity
    authors: dict[int | None, str] = {}
    forms = []
    for values in case.submissions:
        submission = session.get(Submission, values.submission_id)
        assert submission is not None
        ref = reading.form_of(session, values)
        answers = values.answers
        sections = reading.shown_sections(session, values, locale=lang)
        for revision in submission.revisions:
            if revision.author_id not in authors:
                author = session.get(User, revision.author_id) if revision.author_id else None
                authors[revision.author_id] = (author.full_name if author
                                               else revision.author_label)
        forms.append({
            "form": submission.form_key,
            "title": ref.definition.title.get(lang),
            "kind": str(ref.definition.kind),
            "protocol_version": submission.protocol_version.version_label,
            "submitted_at": _iso(submission.submitted_at),
            "revision": submission.revision_number,
            "answers": answers,
            "sections": [_section_json(section) for section in sections],
            "history": [{
                "revision": revision.number, "kind": revision.kind,
                "reason": revision.reason, "request": revision.request_ref,
                "by": authors.get(revision.author_id, revision.author_label),
                "at": _iso(revision.created_at),
            } for revision in submission.revisions if revision.kind != "draft"],
        })
    sources = sorted({name for name in authors.values() if name})
    establishment = patient.establishment.name
    return {
        "case": {
            "case_number": patient.case_number,
            "protocol": patient.protocol_key,
            "establishment": establishment,
            "registered_at": _iso(patient.created_at),
            "limited": patient.is_limited,
            "identity": {
                "identification_letters": identity.letters, "sex": identity.sex,
                "birth": identity.birth, "weight_kg": identity.weight_kg,
                "height_cm": identity.height_cm,
            },
        },
        "submissions": forms,
        "sources": [f"{establishment}: {name}" for name in sources] or [establishment],
    }


def _section_json(section: Any) -> dict[str, Any]:
    def fields(items: list[Any]) -> list[dict[str, str]]:
        return [{"key": f.key, "label": f.label, "value": f.text} for f in items]

    return {"key": section.key, "title": section.title, "fields": fields(section.fields),
            "entries": [fields(entry) for entry in section.entries]}


def limit_patient(session: Session, actor: Any, request: RightsRequest, reason: str) -> None:
    """Freeze the request's patient through the records (nothing filled, changed, exported)."""
    reading.limit_patient(session, actor, _patient(session, request), reason,
                          request_ref=request.number)


def lift_patient(session: Session, actor: Any, request: RightsRequest) -> None:
    """Lift the request's patient's limitation through the records."""
    reading.lift_limitation(session, actor, _patient(session, request), request_ref=request.number)


def rectifications_for(session: Session, request: RightsRequest) -> list[LinkedVersion]:
    """Return the rectified versions that name this request, oldest first."""
    rows = session.execute(
        select(SubmissionRevision, Submission.handle, Submission.form_key)
        .join(Submission, Submission.id == SubmissionRevision.submission_id)
        .where(SubmissionRevision.request_ref == request.number,
               SubmissionRevision.kind == "rectification")
        .order_by(SubmissionRevision.created_at, SubmissionRevision.id)
    ).all()
    return [LinkedVersion(handle, form_key, revision.number, revision.reason,
                          revision.author_label, revision.created_at)
            for revision, handle, form_key in rows]


def submissions_to_rectify(session: Session, request: RightsRequest) -> list[Any]:
    """Return the patient's submitted forms (metadata), to pick the one to rectify."""
    if request.patient_id is None:
        return []
    return list(session.scalars(
        select(Submission).where(Submission.patient_id == request.patient_id,
                                 Submission.status == "submitted").order_by(Submission.id)
    ))
