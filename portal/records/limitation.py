"""The right to limitation (section 11): freezing a patient's records and lifting it.

Only the data protection officer limits or lifts; while limited nothing can be filled or
changed. The request reference kept with a limitation or a rectification is checked here.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import Actor, record
from portal.errors import Conflict, Forbidden
from portal.identifiers import normalise_typed
from portal.permissions import Permission
from portal.records.actions import LimitationReason, RecordsAction
from portal.records.models import Patient
from portal.records.policy import view_for
from portal.records.refusals import FieldError, PatientLimited, refuse_identifiers


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
    patient.limitation_request_ref = checked_request_ref(request_ref)
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
           request=checked_request_ref(request_ref))


#: the number the rights register gives a request (DR- and six digits or more)
_REQUEST_REF = re.compile(r"DR-[0-9]{6,10}")


def checked_request_ref(value: str | None) -> str | None:
    """The rights request number, stored in clear: only the register's own numbers pass, so
    nothing else a person types (a NIR in other digits, say) is kept."""
    if value is None:
        return None
    value = normalise_typed(str(value)).strip().upper()
    if not _REQUEST_REF.fullmatch(value):
        raise FieldError(_("The request reference is not valid."), "request_ref")
    return value
