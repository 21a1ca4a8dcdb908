"""What people type about a request: normalised, checked for NIR/INS, indexed and sealed.

A case number, a correspondence reference, a doctor's name or a contact address is never kept
in clear. Each value is first normalised the way a disguise would be undone (NFKC folds
full-width forms, format characters such as zero-width spaces are dropped, every Unicode digit
becomes its ASCII digit) and only then given to the NIR/INS detector, so that "１８５０５…" or
"1\u200b85 05…" is refused like "1 85 05 …". What is kept is sealed under the records' key
ring; the case number also gets a keyed blind index (HMAC under a key derived for this index
only) so that requests naming the same case can be matched without reading them.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.errors import BadRequest
from portal.identifiers import looks_like_nir_or_ins
from portal.keys import KeyRing
from portal.rights.models import RightsRequest, RightsRequestDetails
from portal.sealing import (
    RIGHTS_CASE_REFERENCE_INDEX,
    blind_index,
    open_with_refresh,
    rights_details_aad,
    ring_of,
    seal_value,
)

CASE_REFERENCE_MAX = 32
#: the portal's case numbers: eight letters and digits shown as XXXX-XXXX
_CASE_LENGTH = 8

NIR_MESSAGE = _l("This looks like a social security number (NIR) or a national health "
                 "identifier (INS). Never give it in the portal: give the case number shown in "
                 "the portal, or nothing.")


def _unicode_digit(char: str) -> str | None:
    try:
        return str(unicodedata.decimal(char))
    except ValueError:
        return None


def normalise_text(value: str | None) -> str:
    """Return `value` as the detector must read it: NFKC, no format characters, ASCII digits,
    every kind of space or line break as one plain space, trimmed."""
    folded = unicodedata.normalize("NFKC", value or "")
    out: list[str] = []
    for char in folded:
        category = unicodedata.category(char)
        if category == "Cf":
            continue  # zero-width spaces and joiners, bidi marks, soft hyphens
        if category.startswith("Z") or char in "\t\r\n\v\f":
            out.append(" ")
            continue
        digit = _unicode_digit(char) if category == "Nd" else None
        out.append(digit if digit is not None else char)
    return " ".join("".join(out).split())


def compact(value: str | None) -> str:
    """Return a reference without separators or punctuation, upper-cased: "7k3m 9qxa" and
    "7K3M-9QXA" are the same reference."""
    return "".join(char for char in normalise_text(value)
                   if unicodedata.category(char)[0] in "LN").upper()


def holds_identifier(value: str | None, *, reference: bool = True) -> bool:
    """Tell whether a typed value holds a NIR/NIA/INS, however it was disguised.

    Read with its spaces (the detector knows where a NIR is cut), with any punctuation read
    as a space ("1/85/05/..."), and, for a reference, glued: a reference has no words, so
    "1_85_05..." is one value. Free text (a name, an address) is not glued, so that a postal
    code next to a phone number is not taken for a NIR.
    """
    text = normalise_text(value)
    if not text:
        return False
    spaced = "".join(" " if unicodedata.category(char)[0] in "PS" else char for char in text)
    readings = [text, spaced] + ([compact(text)] if reference else [])
    return any(looks_like_nir_or_ins(reading) for reading in readings)


def refuse_identifier(value: str | None, *, reference: bool = True) -> None:
    """Refuse a typed value holding a NIR or INS (MIN-04); the value is never logged.

    :raises BadRequest: with the message to show on the field.
    """
    if holds_identifier(value, reference=reference):
        raise BadRequest(str(NIR_MESSAGE))


def clean_case_reference(value: str | None, *, required: bool = True) -> str | None:
    """Return the canonical form of a typed case number ("7K3M-9QXA"), or None when empty
    and not required.

    :raises BadRequest: when missing, NIR-like or too long (never truncated).
    """
    refuse_identifier(value)
    key = compact(value)
    if not key:
        if required:
            raise BadRequest(str(_l("Give the case number as it appears in the portal.")))
        return None
    if len(key) > CASE_REFERENCE_MAX:
        raise BadRequest(str(_l("A case number has at most %(n)s characters.",
                                n=CASE_REFERENCE_MAX)))
    return f"{key[:4]}-{key[4:]}" if len(key) == _CASE_LENGTH else key


def clean_text(value: str | None, max_length: int, *, reference: bool = False) -> str | None:
    """Return a typed value (a reference, a name, a contact) normalised, None when empty.

    :raises BadRequest: when NIR-like or longer than `max_length` (never truncated).
    """
    refuse_identifier(value, reference=reference)
    text = normalise_text(value)
    if len(text) > max_length:
        raise BadRequest(str(_l("At most %(n)s characters.", n=max_length)))
    return text or None


def case_index(session: Session, case_reference: str | None) -> str | None:
    """Return the keyed blind index of a canonical case number (hex), None for none."""
    return case_index_with(ring_of(session), case_reference)


def case_index_with(ring: KeyRing, case_reference: str | None) -> str | None:
    """`case_index` from a key ring (the migration has no session of the app)."""
    if not case_reference:
        return None
    return blind_index(ring, RIGHTS_CASE_REFERENCE_INDEX, compact(case_reference).encode())


def seal_details(session: Session, request: RightsRequest, values: dict[str, Any]) -> None:
    """Seal the typed values of a (flushed) request; empty values are left out."""
    kept = {key: value for key, value in values.items() if value}
    if not kept:
        return
    details = request.details
    if details is None:
        details = RightsRequestDetails(request_id=request.id, handle=secrets.token_urlsafe(16))
    else:
        kept = {**read_details(session, request), **kept}
    sealed = seal_value(ring_of(session), rights_details_aad(details.handle, request.id), kept)
    details.payload, details.wrapped_key, details.kek_version = (
        sealed.payload, sealed.wrapped_key, sealed.kek_version)
    request.details = details
    session.flush()


def read_details(session: Session, request: RightsRequest) -> dict[str, Any]:
    """Open the typed values of a request (for the DPO's page); {} when none were typed."""
    details = request.details
    if details is None:
        return {}
    return open_with_refresh(session, rights_details_aad(details.handle, request.id),
                             details.payload, details.wrapped_key, details.kek_version)
