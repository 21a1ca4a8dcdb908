"""The field-type registry: each definition type → a WTForms field, its validators and coercion.

Every input is parsed into a typed value (int, Decimal, date, PartialDate, code, list of codes) or
refused with a localised message. "Required" is not a validator here: it depends on visibility,
which the form decides (builder.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import Field
from wtforms.validators import ValidationError

from portal.identifiers import looks_like_nir_or_ins, luhn_is_valid, normalise_typed
from portal.meddra.services import validators_for as meddra_validators
from portal.protocols.expressions import PartialDate
from portal.protocols.schema import CodedFieldDef, FieldDef, Protocol
from portal.protocols.scope import choice_codes

_INTEGER_RE = re.compile(r"[+-]?\d{1,15}")
_DECIMAL_RE = re.compile(r"[+-]?\d{1,15}(?:[.,]\d{1,12})?")
_FR_DATE_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


class UnknownFieldType(LookupError):
    """A definition uses a type that the registry cannot render: a load-time error."""


IDENTIFIER_MESSAGE = _l("A social security number (NIR) or INS must not be entered.")


def _read(valuelist: list[str]) -> list[str]:
    """The typed texts, read as every check reads them; a NIR or INS in any is refused.

    The detector sees each value whole, as posted, before any parsing (MIN-04).
    """
    texts = []
    for value in valuelist:
        raw = str(value)
        if looks_like_nir_or_ins(raw):
            raise ValueError(IDENTIFIER_MESSAGE)
        texts.append(normalise_typed(raw).strip())
    return texts


def _first(valuelist: list[str]) -> str:
    texts = _read(valuelist)
    return texts[0] if texts else ""


class TypedField(Field):
    """A field that parses its single input into a typed value; blank means None."""

    #: The definition this field was built from.
    definition: FieldDef

    def __init__(self, label: Any = None, validators: Any = None, *, definition: FieldDef,
                 **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.definition = definition

    def parse(self, text: str) -> Any:
        """Turn submitted text into a value or raise ValueError(localised message)."""
        raise NotImplementedError

    def format(self, value: Any) -> str:
        """Turn a value back into the text an input shows."""
        return "" if value is None else str(value)

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        text = _first(valuelist)
        if text:
            self.data = self.parse(text)

    def process_data(self, value: Any) -> None:
        # Stored answers come back as JSON strings; typed values pass through.
        if value is None or value == "":
            self.data = None
        elif isinstance(value, str):
            self.data = self.parse(value)
        else:
            self.data = value

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.format(self.data)

    def is_blank(self) -> bool:
        """True when nothing usable was given (an unparsable input is not blank)."""
        return self.data is None and not self.process_errors

    def texts(self) -> list[str]:
        """The input's text(s), for rendering: what was posted, else the formatted value."""
        if self.raw_data:
            return [str(v) for v in self.raw_data]
        return [] if self.data is None else [self.format(self.data)]


class IntegerInput(TypedField):
    """A whole number."""

    def parse(self, text: str) -> int:
        if not _INTEGER_RE.fullmatch(text):
            raise ValueError(_l("Enter a whole number."))
        return int(text)


class DecimalInput(TypedField):
    """A decimal number; a comma is accepted as the decimal separator."""

    def parse(self, text: str) -> Decimal:
        if not _DECIMAL_RE.fullmatch(text):
            raise ValueError(_l("Enter a number."))
        try:
            return Decimal(text.replace(",", "."))
        except InvalidOperation:  # pragma: no cover - the regex already guards this
            raise ValueError(_l("Enter a number.")) from None

    def format(self, value: Any) -> str:
        return "" if value is None else format(value, "f")


class DateInput(TypedField):
    """A date, as YYYY-MM-DD (what browsers send) or DD/MM/YYYY (what people type)."""

    def parse(self, text: str) -> date:
        try:
            match = _FR_DATE_RE.fullmatch(text)
            if match:
                day, month, year = (int(part) for part in match.groups())
                return date(year, month, day)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return date.fromisoformat(text)
        except ValueError:
            pass
        raise ValueError(_l("Enter a valid date as YYYY-MM-DD."))

    def format(self, value: Any) -> str:
        return "" if value is None else value.isoformat()


class PartialDateInput(TypedField):
    """A month and a year, as YYYY-MM or MM/YYYY."""

    def parse(self, text: str) -> PartialDate:
        try:
            return PartialDate.parse(text)
        except ValueError:
            raise ValueError(_l("Enter a month and year as YYYY-MM.")) from None

    def format(self, value: Any) -> str:
        return "" if value is None else value.isoformat()


class YearInput(TypedField):
    """A four-digit year."""

    def parse(self, text: str) -> int:
        if not re.fullmatch(r"\d{4}", text):
            raise ValueError(_l("Enter a year with four digits."))
        return int(text)


class ChoiceInput(TypedField):
    """One code out of a fixed list."""

    def __init__(self, *args: Any, codes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.codes = codes
        self._known = frozenset(codes)

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        given = [text for text in _read(valuelist) if text]
        if len(given) > 1:
            raise ValueError(_l("Choose only one answer."))
        if given:
            self.data = self.parse(given[0])

    def parse(self, text: str) -> str:
        if text not in self._known:
            raise ValueError(_l("Choose one of the listed answers."))
        return text


class MultiChoiceInput(TypedField):
    """Any number of codes out of a fixed list; none chosen is blank."""

    def __init__(self, *args: Any, codes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.codes = codes
        self._known = frozenset(codes)

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        self.data = self._codes([text for text in _read(valuelist) if text])

    def process_data(self, value: Any) -> None:
        self.data = None if not value else self._codes(list(value))

    def _codes(self, given: list[str]) -> list[str] | None:
        if any(code not in self._known for code in given):
            raise ValueError(_l("Choose only among the listed answers."))
        chosen = set(given)
        # Definition order, no duplicates: the stored value does not depend on the browser.
        return [code for code in self.codes if code in chosen] or None

    def texts(self) -> list[str]:
        if self.raw_data:
            return [str(v) for v in self.raw_data]
        return list(self.data or [])


class CodedInput(TypedField):
    """A short code checked against a strict pattern (e.g. a MedDRA code, initials, RPPS)."""

    def parse(self, text: str) -> str:
        fld = self.definition
        assert isinstance(fld, CodedFieldDef)
        if fld.normalize == "upper":
            text = text.upper()
        elif fld.normalize == "upper_ascii":
            decomposed = unicodedata.normalize("NFKD", text)
            text = "".join(c for c in decomposed if not unicodedata.combining(c))
            text = re.sub(r"[\s\-'’]", "", text).upper()
        if fld.max_length is not None and len(text) > fld.max_length:
            raise ValueError(_l("Enter at most %(n)s characters.", n=fld.max_length))
        if not re.fullmatch(fld.pattern or "", text):
            raise ValueError(_l("Enter a value in the expected format."))
        if fld.checksum == "luhn" and not luhn_is_valid(text):
            raise ValueError(_l("This number is not valid (its check digit is wrong)."))
        # The linter keeps NIR-shaped patterns out; this refuses the value itself (MIN-04).
        if looks_like_nir_or_ins(text):
            raise ValueError(IDENTIFIER_MESSAGE)
        return text


class CalculatedOutput(TypedField):
    """A value the server computes; whatever is posted under its name is ignored."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None  # never accepted from input
        _read(valuelist)  # but a NIR posted under its name is refused all the same

    def parse(self, text: str) -> Decimal | None:
        try:
            return Decimal(text)
        except InvalidOperation:
            return None  # a stale stored value is recomputed

    def format(self, value: Any) -> str:
        return "" if value is None else format(value, "f")

    def texts(self) -> list[str]:
        return [] if self.data is None else [self.format(self.data)]


# ---------------------------------------------------------------------------------------------
# Static validators (bounds that do not depend on other fields)


def _number_range(minimum: Any, maximum: Any) -> Callable[[Any, Field], None]:
    def check(form: Any, field: Field) -> None:
        if field.data is not None and not minimum <= field.data <= maximum:
            raise ValidationError(
                _l("Enter a number between %(min)s and %(max)s.", min=minimum, max=maximum)
            )

    return check


def _step(minimum: int, step: int) -> Callable[[Any, Field], None]:
    def check(form: Any, field: Field) -> None:
        if field.data is not None and (field.data - minimum) % step:
            raise ValidationError(_l("Enter a multiple of %(step)s.", step=step))

    return check


def _decimal_places(places: int) -> Callable[[Any, Field], None]:
    quantum = Decimal(1).scaleb(-places)

    def check(form: Any, field: Field) -> None:
        if field.data is None:
            return
        if field.data != field.data.quantize(quantum):
            raise ValidationError(_l("Use at most %(n)s decimal places.", n=places))
        field.data = field.data.quantize(quantum)

    return check


def _year_range(minimum: int, maximum: int | None) -> Callable[[Any, Field], None]:
    def check(form: Any, field: Field) -> None:
        top = maximum if maximum is not None else date.today().year
        if field.data is not None and not minimum <= field.data <= top:
            raise ValidationError(
                _l("Enter a year between %(min)s and %(max)s.", min=minimum, max=top)
            )

    return check


def _max_selected(limit: int | None) -> Callable[[Any, Field], None]:
    def check(form: Any, field: Field) -> None:
        if limit is not None and field.data and len(field.data) > limit:
            raise ValidationError(_l("Choose at most %(n)s answers.", n=limit))

    return check


# ---------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class FieldType:
    """How one definition type becomes a WTForms field."""

    field_class: type[TypedField]
    #: takes the definition of the type the registry's key names (`f.min` of an integer)
    validators: Callable[[Any], list[Callable[[Any, Field], None]]]
    options: Callable[[FieldDef, Protocol], dict[str, Any]] = lambda fld, protocol: {}


def _codes_option(fld: FieldDef, protocol: Protocol) -> dict[str, Any]:
    return {"codes": choice_codes(fld, protocol) or []}


FIELD_TYPES: dict[str, FieldType] = {
    "integer": FieldType(
        IntegerInput,
        lambda f: [_number_range(f.min, f.max)] + ([_step(f.min, f.step)] if f.step > 1 else []),
    ),
    "decimal": FieldType(
        DecimalInput, lambda f: [_number_range(f.min, f.max), _decimal_places(f.decimals)]
    ),
    "date": FieldType(DateInput, lambda f: []),  # bounds may name other fields: form-level
    "partial_date": FieldType(PartialDateInput, lambda f: []),
    "year": FieldType(YearInput, lambda f: [_year_range(f.min, f.max)]),
    "yes_no": FieldType(ChoiceInput, lambda f: [], _codes_option),
    "single_choice": FieldType(ChoiceInput, lambda f: [], _codes_option),
    "multiple_choice": FieldType(
        MultiChoiceInput, lambda f: [_max_selected(f.max_selected)], _codes_option
    ),
    # A MedDRA-coded field is checked against the laboratory's release, when one is loaded.
    "coded": FieldType(CodedInput, meddra_validators),
    "calculated": FieldType(CalculatedOutput, lambda f: []),
}


def make_field(fld: FieldDef, protocol: Protocol, label: Any) -> Any:
    """Return the unbound WTForms field for a definition field.

    :raises UnknownFieldType: when no registry entry exists for the field's type.
    """
    kind = FIELD_TYPES.get(fld.type)
    if kind is None:
        raise UnknownFieldType(f"field {fld.key!r}: no renderer for type {fld.type!r}")
    field_class = kind.field_class
    if fld.type == "coded" and fld.code_list:
        field_class = ChoiceInput  # a code list is a closed choice
        options = _codes_option(fld, protocol)
    else:
        options = kind.options(fld, protocol)
    return field_class(label, kind.validators(fld), definition=fld, **options)
