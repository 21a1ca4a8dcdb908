"""Registering a patient: only what section 7.2 allows, checked rule by rule (MIN-01 to MIN-03).

Every function takes the session and the acting person, goes through the records policy,
writes its audit entry in the same transaction and flushes; none commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.access.models import Establishment
from portal.audit.services import Actor, record
from portal.errors import Forbidden
from portal.identifiers import normalise_name_letters
from portal.permissions import Permission
from portal.protocols.models import ProtocolVersion
from portal.records.actions import RecordsAction
from portal.records.clinic_time import clinical_today
from portal.records.duplicate_index import duplicate_index
from portal.records.identities import Identity
from portal.records.models import Patient
from portal.records.policy import view_for
from portal.records.refusals import (
    FieldError,
    FieldErrors,
    IdentifierRefused,
    ProbableDuplicate,
    refuse_identifiers,
)
from portal.records.versions import in_force, protocol_of
from portal.sealing import case_reference, patient_aad, ring_of, seal_value

SEXES = ("F", "M")
#: a full date of birth is collected only for children younger than this (MIN-02)
PAEDIATRIC_FULL_DATE_MAX_YEARS = 2


EARLIEST_BIRTH_YEAR = 1900
#: used only for a protocol whose forms have no weight or height field with bounds
WEIGHT_RANGE = (Decimal("0.3"), Decimal("350.0"))


HEIGHT_RANGE = (20, 250)
#: case numbers avoid letters people confuse (no I, L, O, U)
_CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


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
    assert identity is not None and version is not None and data.establishment_id is not None
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
        handle=handle, case_number=case_number, reference=case_reference(ring, case_number),
        protocol_key=data.protocol_key,
        establishment_id=data.establishment_id, identity=sealed.payload,
        wrapped_key=sealed.wrapped_key, kek_version=sealed.kek_version,
        duplicate_index=index, created_at=clock.now(), created_by_id=view.user_id,
    )
    session.add(patient)
    session.flush()
    if matches:
        record(session, actor, RecordsAction.DUPLICATE_CONFIRM, patient,
               duplicate_of=matches[0].audit_ref, matches=len(matches))
    record(session, actor, RecordsAction.PATIENT_CREATE, patient,
           protocol=data.protocol_key, establishment=f"E{data.establishment_id}")
    return patient
