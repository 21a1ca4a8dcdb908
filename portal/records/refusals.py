"""Input refused by the records, and the refusal of typed NIR/INS (MIN-04).

`FieldError` names the form field a message goes under; the others say why a change cannot be
made (a probable duplicate, a limited patient).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.audit.services import record
from portal.errors import BadRequest, Conflict
from portal.identifiers import looks_like_nir_or_ins
from portal.records.actions import RecordsAction
from portal.records.models import Patient


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
