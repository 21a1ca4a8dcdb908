"""A patient's identity as sealed (section 7.2 a), opened and shown as the scope allows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from portal.records.integrity import RecordIntegrityError, report_integrity_failure
from portal.records.models import Patient
from portal.records.policy import View, view_for
from portal.sealing import IntegrityCheckFailed, open_with_refresh, patient_aad


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
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)

    @property
    def birth(self) -> str:
        """Birth as shown: YYYY-MM, or the full date for a young child."""
        if self.birth_day:
            return f"{self.birth_year:04d}-{self.birth_month:02d}-{self.birth_day:02d}"
        return f"{self.birth_year:04d}-{self.birth_month:02d}"


def read_identity(session: Session, actor: Any, patient: Patient) -> Identity:
    """Open a patient's sealed identity (the caller checked access and logged the read).

    :raises RecordIntegrityError: the ciphertext failed authentication (alert raised).
    """
    try:
        data = open_with_refresh(session, patient_aad(patient.handle, patient.protocol_key),
                                 patient.identity, patient.wrapped_key, patient.kek_version)
    except IntegrityCheckFailed:
        report_integrity_failure(session, actor, ("patient", patient.audit_ref),
                                 part="identity")
        raise RecordIntegrityError(("patient", patient.audit_ref)) from None
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
