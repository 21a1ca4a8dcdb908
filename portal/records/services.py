"""Patients: registration (only what section 7.2 allows), identity, limitation, lookups.

Every function takes the session and the acting person, goes through the records policy,
writes its audit entry in the same transaction and flushes; none commits.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import distinct, select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import Establishment
from portal.audit.services import Actor, record
from portal.errors import BadRequest, Conflict, Forbidden
from portal.identifiers import looks_like_nir_or_ins, normalise_name_letters, normalise_typed
from portal.permissions import Permission
from portal.protocols.models import ProtocolVersion
from portal.records.actions import LimitationReason, RecordsAction
from portal.records.duplicate_index import duplicate_index
from portal.records.integrity import RecordIntegrityError, report_integrity_failure
from portal.records.models import Patient, Submission
from portal.records.policy import View, view_for
from portal.records.versions import in_force, protocol_of
from portal.sealing import (
    IntegrityCheckFailed,
    open_with_refresh,
    patient_aad,
    ring_of,
    seal_value,
)

SEXES = ("F", "M")
#: a full date of birth is collected only for children younger than this (MIN-02)
PAEDIATRIC_FULL_DATE_MAX_YEARS = 2
EARLIEST_BIRTH_YEAR = 1900
#: used only for a protocol whose forms have no weight or height field with bounds
WEIGHT_RANGE = (Decimal("0.3"), Decimal("350.0"))
HEIGHT_RANGE = (20, 250)
#: case numbers avoid letters people confuse (no I, L, O, U)
_CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class FieldError(BadRequest):
    """Input refused; `field` names the form field to show the message on (None: the form)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class IdentifierRefused(FieldError):
    """A typed value looks like a NIR or INS: refused, and logged without the value."""

    def __init__(self, message: str, field: str | None = None,
                 fields: list[str] | None = None) -> None:
        super().__init__(message, field)
        #: every input that held such a value (`field` is the first)
        self.fields = fields or ([field] if field else [])


class FieldErrors(FieldError):
    """Several inputs refused at once: `problems`, each a FieldError naming its field.

    The first problem is also this error's message and field, for callers that show one.
    """

    def __init__(self, problems: list[FieldError]) -> None:
        super().__init__(problems[0].message or "", problems[0].field)
        self.problems = problems


class ProbableDuplicate(Conflict):
    """A patient with the same letters, birth month/year, sex and establishment exists."""

    def __init__(self, patients: list[Patient]) -> None:
        super().__init__(_("A patient with the same letters, month and year of birth and sex "
                           "is already registered in this establishment."))
        self.patients = patients


class PatientLimited(Conflict):
    """The patient's records are limited: nothing can be filled or changed."""

    def __init__(self) -> None:
        super().__init__(_("This patient's records are limited (right to limitation): no form "
                           "can be filled or changed until the data protection officer lifts "
                           "the limitation."))


@dataclass(frozen=True)
class Identity:
    """What identifies a patient, as sealed: nothing beyond section 7.2 a of the referential."""

    letters: str
    sex: str
    birth_year: int
    birth_month: int
    birth_day: int | None = None
    #: kilograms with one decimal, as text (exact)
    weight_kg: str | None = None
    height_cm: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the sealed form."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Identity:
        """Rebuild from the sealed form."""
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})

    @property
    def birth(self) -> str:
        """Birth as shown: YYYY-MM, or the full date for a young child."""
        if self.birth_day:
            return f"{self.birth_year:04d}-{self.birth_month:02d}-{self.birth_day:02d}"
        return f"{self.birth_year:04d}-{self.birth_month:02d}"


@dataclass(frozen=True)
class Registration:
    """A registration as typed; `register_patient` checks every rule."""

    surname_letters: str
    first_name_letters: str
    sex: str
    birth_year: int | None
    birth_month: int | None
    establishment_id: int | None
    protocol_key: str
    birth_day: int | None = None
    weight_kg: Decimal | str | None = None
    height_cm: int | None = None


def new_handle() -> str:
    """Return a random URL handle (128 bits)."""
    return secrets.token_urlsafe(16)


def new_case_number() -> str:
    """Return a random case number such as 7K3M-9QXA (40 bits, no confusable letters)."""
    chars = "".join(secrets.choice(_CASE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def refuse_identifiers(session: Session, actor: Any, values: dict[str, Any], *,
                       context: str) -> None:
    """Refuse any value that looks like a NIR or INS, logging the field name only (MIN-04).

    :param values: input name → typed value(s).
    :raises IdentifierRefused: on the first such value (after logging every offending field).
    """
    offending = [name for name, value in values.items() if _holds_identifier(value)]
    for name in offending:
        record(session, actor, RecordsAction.IDENTIFIER_REFUSE, None, outcome="denied",
               field=name[:32], context=context[:32])
    if offending:
        raise IdentifierRefused(
            _("This looks like a social security number (NIR) or a national health identifier "
              "(INS). These must never be entered in the portal."), offending[0], offending)


def _holds_identifier(value: Any) -> bool:
    # No length shortcut: "1.8505E12" is 9 characters and a NIR body once written out.
    if isinstance(value, list | tuple):
        return any(_holds_identifier(v) for v in value)
    return isinstance(value, str) and looks_like_nir_or_ins(value)


def clinical_zone(session: Session) -> str:
    """Return the time zone where the care happens (the portal's), by its IANA name."""
    from portal.db import app_of

    return app_of(session).config.get("TIMEZONE") or "Europe/Paris"


def clinical_today(session: Session) -> date:
    """Return today's date where the care happens (the portal's time zone)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(clinical_zone(session))  # cached by zoneinfo
    return clock.now().astimezone(zone).date()


def is_paediatric(version: ProtocolVersion) -> bool:
    """True when the protocol has a paediatric form (a full birth date may then be kept)."""
    return any(form.paediatric for form in protocol_of(version).definition.forms)


def registration_versions(session: Session, actor: Any) -> list[ProtocolVersion]:
    """Return the protocol versions in force that the actor may register patients under."""
    view = view_for(session, actor)
    versions = session.scalars(
        select(ProtocolVersion).where(ProtocolVersion.is_current.is_(True))
        .order_by(ProtocolVersion.protocol_key)
    ).all()
    return [v for v in versions if view.protocol_keys is None or v.protocol_key in
            view.protocol_keys]


def registration_establishments(session: Session, actor: Any) -> list[Establishment]:
    """Return the establishments the actor may register a patient in (their own)."""
    view = view_for(session, actor)
    if not view.can(Permission.PATIENT_CREATE) or not view.establishment_ids:
        return []
    return list(session.scalars(
        select(Establishment).where(Establishment.id.in_(sorted(view.establishment_ids)))
        .order_by(Establishment.name)
    ))


def _check_identity(session: Session, data: Registration, version: ProtocolVersion | None,
                    skip: frozenset[str] = frozenset()) -> tuple[Identity | None, list[FieldError]]:
    """Apply the minimisation rules (MIN-01 to MIN-03) to every field at once.

    Returns the identity to seal, or None with every broken rule; the fields in `skip` (already
    refused for another reason) are not checked again. Without a `version`, whether a full date
    of birth may be kept cannot be decided, and is not.
    """
    problems: list[FieldError] = []

    def refuse(message: str, field: str) -> None:
        if field not in skip:
            problems.append(FieldError(message, field))

    surname = first_name = ""
    try:
        surname = normalise_name_letters(data.surname_letters or "", 3)
    except ValueError as exc:
        refuse(_letters_message(exc, 3), "surname_letters")
    try:
        first_name = normalise_name_letters(data.first_name_letters or "", 2)
    except ValueError as exc:
        refuse(_letters_message(exc, 2), "first_name_letters")
    if data.sex not in SEXES:
        refuse(_("Choose the sex."), "sex")
    today = clinical_today(session)
    year, month = data.birth_year, data.birth_month
    month_ok = bool(month) and 1 <= month <= 12  # type: ignore[operator]
    if not month_ok:
        refuse(_("Choose the month of birth."), "birth_month")
    year_ok = bool(year) and EARLIEST_BIRTH_YEAR <= year <= today.year and not (  # type: ignore[operator]
        month_ok and (year, month) > (today.year, today.month))
    if not year_ok:
        refuse(_("Enter a year of birth between %(first)s and this year, not in the "
                 "future.", first=EARLIEST_BIRTH_YEAR), "birth_year")
    day = data.birth_day
    if day is not None and version is not None:
        if not is_paediatric(version):
            refuse(_("A full date of birth is only collected under a paediatric "
                     "protocol: give the month and year only."), "birth_day")
        elif year_ok and month_ok:
            try:
                born = date(year, month, day)  # type: ignore[arg-type]
            except ValueError:
                refuse(_("This day does not exist in that month."), "birth_day")
            else:
                limit = date(today.year - PAEDIATRIC_FULL_DATE_MAX_YEARS, today.month,
                             min(today.day, 28))
                if born > today:
                    refuse(_("The date of birth cannot be in the future."), "birth_day")
                elif born <= limit:
                    refuse(_("A full date of birth is only collected for children under "
                             "%(years)s years: give the month and year only.",
                             years=PAEDIATRIC_FULL_DATE_MAX_YEARS), "birth_day")
    weight = None
    try:
        weight = _weight(data.weight_kg, identity_bounds(version, "weight", WEIGHT_RANGE))
    except FieldError as exc:
        refuse(exc.message or "", "weight_kg")
    height = data.height_cm
    low, high = identity_bounds(version, "height", HEIGHT_RANGE)
    if height is not None and not low <= height <= high:
        refuse(_("Enter a height between %(low)s and %(high)s cm.", low=low, high=high),
               "height_cm")
    if problems or skip:
        return None, problems
    return Identity(f"{surname}-{first_name}", data.sex, year, month, day,  # type: ignore[arg-type]
                    None if weight is None else format(weight, "f"), height), []


def identity_problems(session: Session, data: Registration,
                      skip: frozenset[str] = frozenset()) -> list[FieldError]:
    """Every minimisation rule `data` breaks, outside the fields in `skip` (the page calls it
    when its own form refused some fields, so that the person sees every error at once)."""
    version = in_force(session, data.protocol_key) if data.protocol_key else None
    return _check_identity(session, data, version, skip)[1]


def _letters_message(exc: ValueError, count: int) -> str:
    text = str(exc)
    if text.startswith("at most"):
        return _("Enter at most %(n)s letters: never the full name.", n=count)
    if text.startswith("only letters"):
        return _("Only letters are accepted (accents, spaces and hyphens are removed).")
    return _("Enter the first letters of the name.")


def identity_bounds(version: ProtocolVersion | None, what: str, default: tuple[Any, Any]
                    ) -> tuple[Any, Any]:
    """The bounds the protocol's forms set on the weight or the height (`identifies: what`).

    The registration checks the same bounds, so that one source decides what a weight may be
    and a registered weight is one every form of the protocol accepts. Without such a field,
    `default` (also when the protocol is not known yet).
    """
    if version is None:
        return default
    lows, highs = [], []
    for form in protocol_of(version).definition.forms:
        for _si, _fi, _section, fld in form.iter_fields():
            low, high = getattr(fld, "min", None), getattr(fld, "max", None)
            if fld.identifies == what and isinstance(low, int | Decimal) and \
                    isinstance(high, int | Decimal):
                lows.append(Decimal(low))
                highs.append(Decimal(high))
    return (max(lows), min(highs)) if lows else default


def _weight(value: Decimal | str | None, bounds: tuple[Any, Any]) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        weight = Decimal(str(value).replace(",", ".")).quantize(Decimal("0.1"))
    except InvalidOperation:
        weight = None
    if weight is None or not weight.is_finite():
        raise FieldError(_("Enter the weight in kilograms, e.g. 72.5."), "weight_kg")
    if not bounds[0] <= weight <= bounds[1]:
        raise FieldError(_("Enter a weight between %(low)s and %(high)s kg.",
                           low=bounds[0], high=bounds[1]), "weight_kg")
    return weight


def register_patient(session: Session, actor: Any, data: Registration, *,
                     confirm_duplicate: bool = False) -> Patient:
    """Register a patient in one of the actor's establishments, under a protocol in force.

    :raises IdentifierRefused: a typed value looks like a NIR or INS (logged without it).
    :raises FieldError: a rule of section 7.2 is broken (the field is named); FieldErrors
        when several are, each with its field.
    :raises ProbableDuplicate: a matching patient exists and `confirm_duplicate` is false.
    :raises Forbidden: the actor may not register patients there.
    """
    view = view_for(session, actor)
    if not view.can(Permission.PATIENT_CREATE):
        raise Forbidden()
    problems: list[FieldError] = []
    try:
        refuse_identifiers(session, actor, {"surname_letters": data.surname_letters,
                                            "first_name_letters": data.first_name_letters},
                           context="registration")
    except IdentifierRefused as exc:
        problems.append(exc)
    if data.establishment_id is None or (
            view.establishment_ids is not None and
            data.establishment_id not in view.establishment_ids) or (
            view.establishment_ids is None and not isinstance(actor, Actor)) or (
            session.get(Establishment, data.establishment_id) is None):
        problems.append(FieldError(_("Choose one of your establishments."), "establishment_id"))
    version = None
    if view.protocol_keys is not None and data.protocol_key not in view.protocol_keys:
        problems.append(FieldError(_("Choose a protocol your access covers."), "protocol_key"))
    else:
        version = in_force(session, data.protocol_key)
        if version is None:
            problems.append(FieldError(_("No version of this protocol is in force."),
                                       "protocol_key"))
    refused = frozenset(problems[0].fields) if problems and isinstance(
        problems[0], IdentifierRefused) else frozenset()
    identity, broken = _check_identity(session, data, version, refused)
    problems.extend(broken)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise FieldErrors(problems)
    assert identity is not None and version is not None
    ring = ring_of(session)
    index = duplicate_index(ring, identity.letters, identity.birth_year, identity.birth_month,
                            identity.sex, data.establishment_id)
    matches = list(session.scalars(select(Patient).where(Patient.duplicate_index == index)))
    if matches and not confirm_duplicate:
        raise ProbableDuplicate(matches)
    handle = new_handle()
    case_number = new_case_number()
    while session.scalar(select(Patient.id).where(Patient.case_number == case_number)):
        case_number = new_case_number()
    sealed = seal_value(ring, patient_aad(handle, data.protocol_key), identity.to_json())
    patient = Patient(
        handle=handle, case_number=case_number, protocol_key=data.protocol_key,
        establishment_id=data.establishment_id, identity=sealed.payload,
        wrapped_key=sealed.wrapped_key, kek_version=sealed.kek_version,
        duplicate_index=index, created_at=clock.now(), created_by_id=view.user_id,
    )
    session.add(patient)
    session.flush()
    if matches:
        record(session, actor, RecordsAction.DUPLICATE_CONFIRM, patient,
               duplicate_of=matches[0].case_number, matches=len(matches))
    record(session, actor, RecordsAction.PATIENT_CREATE, patient,
           protocol=data.protocol_key, establishment=f"E{data.establishment_id}")
    return patient


def read_identity(session: Session, actor: Any, patient: Patient) -> Identity:
    """Open a patient's sealed identity (the caller checked access and logged the read).

    :raises RecordIntegrityError: the ciphertext failed authentication (alert raised).
    """
    try:
        data = open_with_refresh(session, patient_aad(patient.handle, patient.protocol_key),
                                 patient.identity, patient.wrapped_key, patient.kek_version)
    except IntegrityCheckFailed:
        report_integrity_failure(session, actor, ("patient", patient.case_number),
                                 part="identity")
        raise RecordIntegrityError(("patient", patient.case_number)) from None
    return Identity.from_json(data)


def shown_identity(session: Session, actor: Any, patient: Patient,
                   view: View | None = None) -> dict[str, Any]:
    """Return what of the identity the actor may see (no letters or birth data unless
    identifying scope)."""
    view = view or view_for(session, actor)
    identity = read_identity(session, actor, patient)
    shown: dict[str, Any] = {"sex": identity.sex, "weight_kg": identity.weight_kg,
                             "height_cm": identity.height_cm}
    if view.shows_identity:
        shown.update(letters=identity.letters, birth=identity.birth)
    return shown


def ensure_not_limited(patient: Patient) -> None:
    """Refuse any change to a limited patient's records.

    :raises PatientLimited: the patient is limited.
    """
    if patient.is_limited:
        raise PatientLimited()


def _require_limitation_right(session: Session, actor: Any, patient: Patient) -> None:
    view = view_for(session, actor)
    if not view.can(Permission.LIMITATION_MANAGE) or not view.covers(patient):
        raise Forbidden(_("Only the data protection officer limits records or lifts a "
                          "limitation."))


def limit_patient(session: Session, actor: Any, patient: Patient, reason: str,
                  request_ref: str | None = None) -> None:
    """Freeze a patient's records (right to limitation): nothing can be filled or changed.

    :param reason: a LimitationReason code.
    :param request_ref: the rights request behind it (e.g. DR-000012), if any.
    :raises Forbidden: the actor lacks the limitation right.
    :raises Conflict: already limited.
    :raises BadRequest: unknown reason.
    """
    _require_limitation_right(session, actor, patient)
    refuse_identifiers(session, actor, {"request_ref": request_ref}, context="limitation")
    try:
        reason = LimitationReason(reason).value
    except ValueError:
        raise FieldError(_("Choose a reason from the list."), "reason") from None
    if patient.is_limited:
        raise Conflict(_("This patient's records are already limited."))
    patient.limited_at = clock.now()
    patient.limited_by_id = getattr(actor, "id", None) if not isinstance(actor, Actor) else None
    patient.limitation_reason = reason
    patient.limitation_request_ref = _request_ref(request_ref)
    session.flush()
    record(session, actor, RecordsAction.PATIENT_LIMIT, patient, reason=reason,
           request=patient.limitation_request_ref)


def lift_limitation(session: Session, actor: Any, patient: Patient,
                    request_ref: str | None = None) -> None:
    """Lift a limitation: the records can be filled and changed again.

    :raises Forbidden: the actor lacks the limitation right.
    :raises Conflict: the patient is not limited.
    """
    _require_limitation_right(session, actor, patient)
    refuse_identifiers(session, actor, {"request_ref": request_ref}, context="limitation")
    if not patient.is_limited:
        raise Conflict(_("This patient's records are not limited."))
    previous = patient.limitation_reason
    patient.limited_at = None
    patient.limited_by_id = None
    patient.limitation_reason = None
    patient.limitation_request_ref = None
    session.flush()
    record(session, actor, RecordsAction.PATIENT_LIFT, patient, reason=previous,
           request=_request_ref(request_ref))


#: the number the rights register gives a request (DR- and six digits or more)
_REQUEST_REF = re.compile(r"DR-[0-9]{6,10}")


def _request_ref(value: str | None) -> str | None:
    """The rights request number, stored in clear: only the register's own numbers pass, so
    nothing else a person types (a NIR in other digits, say) is kept."""
    if value is None:
        return None
    value = normalise_typed(str(value)).strip().upper()
    if not _REQUEST_REF.fullmatch(value):
        raise FieldError(_("The request reference is not valid."), "request_ref")
    return value


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
    record(session, actor, RecordsAction.PATIENT_READ, patient, purpose="lookup")
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
        record(session, actor, RecordsAction.PATIENT_READ, patient, purpose="identity_match")
    return found
