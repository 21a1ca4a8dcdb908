"""Pydantic models of a PUT-SP protocol definition (schema_version 1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1

#: Field, section, form and code-list keys: stable, lower-case identifiers used in storage.
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
#: Choice codes: stable values stored in submissions; "UNK"/"ND" are codes, not blanks.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$"
#: The longest value a coded pattern may accept: codes, not sentences (referential 7.3).
MAX_CODED_LENGTH = 40

Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Code = Annotated[str, Field(pattern=CODE_PATTERN)]
#: A condition or value written in the protocol expression language (see expressions.py).
ExpressionText = Annotated[str, Field(min_length=1, max_length=2000)]


class Category(StrEnum):
    """What kind of personal data a field holds; drives the compliance rules."""

    identification = "identification"
    health = "health"
    treatment = "treatment"
    efficacy = "efficacy"
    safety = "safety"
    administrative = "administrative"
    ethnic_origin = "ethnic_origin"
    genetic = "genetic"
    sex_life = "sex_life"
    substance_use = "substance_use"
    affected_person = "affected_person"
    professional = "professional"


#: Categories the referential (7.2) allows only when strictly necessary and justified.
SENSITIVE_CATEGORIES = frozenset(
    {Category.ethnic_origin, Category.genetic, Category.sex_life, Category.substance_use}
)

#: Patient identification items the referential (7.2 a) allows; values of `identifies`.
IDENTIFIES_VALUES = (
    "surname_initials",
    "firstname_initials",
    "case_code",
    "sex",
    "weight",
    "height",
    "age",
    "birth_month",
    "birth_year",
    "birth_month_year",
    "birth_day",
    "birth_date",
)
#: Professional data items the referential (7.2 c) allows; values of `professional`.
PROFESSIONAL_VALUES = (
    "last_name",
    "first_name",
    "specialty",
    "rpps",
    "establishment",
    "department",
    "professional_email",
    "professional_phone",
)


class FormKind(StrEnum):
    """The role of a form in the PUT-SP annexes (sample forms F0 to F5)."""

    access = "access"
    initiation = "initiation"
    follow_up = "follow_up"
    discontinuation = "discontinuation"
    adverse_event = "adverse_event"
    pregnancy = "pregnancy"
    exposure = "exposure"
    other = "other"


#: Forms that describe how a related person was exposed: the only place for their data.
EXPOSURE_FORM_KINDS = frozenset({FormKind.pregnancy, FormKind.exposure})


class _Model(BaseModel):
    """Strict base: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Text(_Model):
    """A user-visible text in both languages of the portal."""

    fr: str = Field(min_length=1, max_length=2000)
    en: str = Field(min_length=1, max_length=2000)

    def get(self, locale: str | None) -> str:
        """Return the text for `locale`, French being the portal's first language."""
        return self.en if (locale or "fr").startswith("en") else self.fr


class Choice(_Model):
    """One answer of a choice list: a stable code and its labels."""

    code: Code
    label: Text


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
    return value


class Review(_Model):
    """A doubt an importer (or an author) left on a field for a person to settle.

    A definition with a pending review passes `protocol check` with a warning, but is not
    installed until the review is confirmed with a written justification.
    """

    #: What was doubted, e.g. "the label reads like substance use data".
    reason: str = Field(min_length=1, max_length=2000)
    status: Literal["pending", "confirmed"] = "pending"
    #: Why the field may be kept as declared (at least a sentence), written when confirming.
    justification: str | None = Field(default=None, max_length=2000)


class _FieldBase(_Model):
    """What every field has, whatever its type."""

    key: Key
    label: Text
    help: Text | None = None
    required: bool = False
    category: Category
    #: The PUT-SP section or annex item the field comes from (PUT-02); checked by the linter.
    put_ref: str | None = Field(default=None, max_length=200)
    visible_if: ExpressionText | None = None
    #: Written reason why a sensitive category is strictly necessary (referential 7.2).
    necessity_justification: str | None = Field(default=None, max_length=2000)
    identifies: str | None = Field(
        default=None, json_schema_extra={"enum": list(IDENTIFIES_VALUES)}
    )
    professional: str | None = Field(
        default=None, json_schema_extra={"enum": list(PROFESSIONAL_VALUES)}
    )
    #: A doubt to settle before installation (see `Review`).
    review: Review | None = None


class IntegerFieldDef(_FieldBase):
    """A whole number within bounds."""

    type: Literal["integer"]
    min: int
    max: int
    step: int = Field(default=1, ge=1)
    unit: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _bounds(self) -> IntegerFieldDef:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class DecimalFieldDef(_FieldBase):
    """A decimal number within bounds, with at most `decimals` decimal places."""

    type: Literal["decimal"]
    min: Decimal
    max: Decimal
    decimals: int = Field(default=1, ge=0, le=6)
    unit: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _bounds(self) -> DecimalFieldDef:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class DateFieldDef(_FieldBase):
    """A full date; bounds are dates or expressions such as `today` or `start_date`."""

    type: Literal["date"]
    min: date | ExpressionText | None = None
    max: date | ExpressionText | None = None


class PartialDateFieldDef(_FieldBase):
    """A month and a year (YYYY-MM); bounds are expressions such as `today`."""

    type: Literal["partial_date"]
    min: ExpressionText | None = None
    max: ExpressionText | None = None


class YearFieldDef(_FieldBase):
    """A year; `max` defaults to the current year."""

    type: Literal["year"]
    min: int = Field(default=1900, ge=1800, le=2200)
    max: int | None = Field(default=None, ge=1800, le=2200)


class YesNoFieldDef(_FieldBase):
    """Yes or no, with an optional coded 'unknown' answer."""

    type: Literal["yes_no"]
    unknown: bool = False


class SingleChoiceFieldDef(_FieldBase):
    """One code out of a list, shown as radio buttons or a select."""

    type: Literal["single_choice"]
    widget: Literal["radio", "select"] = "radio"
    choices: list[Choice] = Field(min_length=1, max_length=500)


class MultipleChoiceFieldDef(_FieldBase):
    """Any number of codes out of a list (check boxes)."""

    type: Literal["multiple_choice"]
    choices: list[Choice] = Field(min_length=1, max_length=500)
    max_selected: int | None = Field(default=None, ge=1)


class CodedFieldDef(_FieldBase):
    """A code from a protocol code list, or a short value matching a strict pattern."""

    type: Literal["coded"]
    code_list: Key | None = None
    pattern: str | None = Field(default=None, max_length=300)
    max_length: int | None = Field(default=None, ge=1)
    #: `upper`: upper-case the input; `upper_ascii`: also strip accents, spaces, hyphens and
    #: apostrophes (MIN-01, patient initials).
    normalize: Literal["none", "upper", "upper_ascii"] = "none"
    checksum: Literal["none", "luhn"] = "none"
    #: The dictionary the codes come from, for the reader (e.g. "MedDRA 27.0 LLT").
    dictionary: str | None = Field(default=None, max_length=100)

    _pattern_is_regex = field_validator("pattern")(_check_regex)


class CalculatedFieldDef(_FieldBase):
    """A number computed on the server from other fields, never typed."""

    type: Literal["calculated"]
    expression: ExpressionText
    decimals: int = Field(default=1, ge=0, le=6)
    unit: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _not_required(self) -> CalculatedFieldDef:
        if self.required:
            raise ValueError("a calculated field cannot be required: nobody types it")
        return self


FieldDef = Annotated[
    IntegerFieldDef
    | DecimalFieldDef
    | DateFieldDef
    | PartialDateFieldDef
    | YearFieldDef
    | YesNoFieldDef
    | SingleChoiceFieldDef
    | MultipleChoiceFieldDef
    | CodedFieldDef
    | CalculatedFieldDef,
    Field(discriminator="type"),
]

#: Every field type name, in the order of the registry.
FIELD_TYPE_NAMES = (
    "integer",
    "decimal",
    "date",
    "partial_date",
    "year",
    "yes_no",
    "single_choice",
    "multiple_choice",
    "coded",
    "calculated",
)


class Check(_Model):
    """A cross-field rule that must hold, e.g. `stop_date >= start_date`."""

    key: Key
    expression: ExpressionText
    message: Text
    #: Fields the error is shown on; empty means the error belongs to the whole form.
    fields: list[Key] = Field(default_factory=list)
    #: `error`: the form is refused while the check fails. `warning`: an unusual value (a
    #: source's soft range check); the form is saved once the professional confirms it, and
    #: the confirmation is kept with the submission.
    severity: Literal["error", "warning"] = "error"


class Repeat(_Model):
    """How many times a section may be filled (e.g. up to 10 prior treatments)."""

    max: int = Field(ge=1, le=50)
    min: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Repeat:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Section(_Model):
    """A group of fields, possibly conditional, possibly repeated."""

    key: Key
    title: Text
    help: Text | None = None
    visible_if: ExpressionText | None = None
    repeat: Repeat | None = None
    layout: Literal["stack", "grid"] = "stack"
    fields: list[FieldDef] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list)


class Form(_Model):
    """One PUT-SP annex form (initiation, follow-up, ...)."""

    key: Key
    title: Text
    kind: FormKind
    put_ref: str = Field(min_length=1, max_length=200)
    #: The only forms where a full birth date may be collected (referential 7.2 a).
    paediatric: bool = False
    #: Several submissions per patient (e.g. one per adverse event).
    repeatable: bool = False
    #: Schedule timepoints at which the form is due; empty means on event.
    timepoints: list[str] = Field(default_factory=list)
    sections: list[Section] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list)

    def iter_fields(self) -> Iterator[tuple[int, int, Section, FieldDef]]:
        """Yield (section index, field index, section, field) in display order."""
        for si, section in enumerate(self.sections):
            for fi, fld in enumerate(section.fields):
                yield si, fi, section, fld


class Product(_Model):
    """The medicine under compassionate access."""

    name: str = Field(min_length=1, max_length=200)
    inn: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=50)
    pharmaceutical_form: Text | None = None
    strength: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _inn_or_code(self) -> Product:
        if not (self.inn or self.code):
            raise ValueError("give the product's INN or its code name")
        return self


class Indication(_Model):
    """An indication covered by the AAC programme."""

    code: Code
    label: Text


class AnsmReferences(_Model):
    """ANSM references and dates of the PUT-SP."""

    put_sp_reference: str = Field(min_length=1, max_length=100)
    publication_date: date
    last_update_date: date | None = None
    decision_references: list[str] = Field(default_factory=list)


class Timepoint(_Model):
    """A scheduled visit (D0, M1, ...) with its window in days."""

    code: Code
    label: Text
    day: int | None = Field(default=None, ge=0, le=3660)
    month: int | None = Field(default=None, ge=0, le=120)
    window_before_days: int = Field(default=0, ge=0, le=365)
    window_after_days: int = Field(default=0, ge=0, le=365)

    @model_validator(mode="after")
    def _one_offset(self) -> Timepoint:
        if (self.day is None) == (self.month is None):
            raise ValueError("give exactly one of `day` or `month`")
        return self


class RepeatingTimepoints(_Model):
    """Visits that recur after the fixed timepoints, e.g. every 6 months after M6."""

    every_months: int = Field(ge=1, le=24)
    after: Code
    window_before_days: int = Field(default=0, ge=0, le=365)
    window_after_days: int = Field(default=0, ge=0, le=365)


class Schedule(_Model):
    """The visit schedule of the PUT-SP."""

    timepoints: list[Timepoint] = Field(min_length=1)
    then: RepeatingTimepoints | None = None


class ReportStatistic(StrEnum):
    """What a summary-report table computes over the submitted forms of one kind."""

    #: forms per answer of a choice, yes/no or code-list field (rows), optionally per answer of
    #: a `by` field (columns)
    count = "count"  # type: ignore[assignment]  # the definition's word; shadows str.count
    #: forms per class of a number, cut at `bounds` (or of an age, with `age_at`)
    classes = "classes"
    #: forms answered, median, minimum and maximum of a number (per `by` answer)
    summary = "summary"
    #: per field of the form, the forms where it is not answered (completeness)
    missing = "missing"


class ReportTable(_Model):
    """One table of the periodic summary report, declared in the protocol definition so that a
    new PUT-SP gets its report without code. Each is computed for the interval and
    cumulatively; the compliance linter checks the fields exist and suit the statistic."""

    key: Key
    title: Text
    form: Key
    field: Key | None = None
    statistic: ReportStatistic
    by: Key | None = None
    #: `classes`: ascending cut points; a class holds values from one bound up to the next
    bounds: list[Decimal] = Field(default_factory=list, max_length=20)
    #: `classes` of a birth month-year or year field: the age in whole years on this date
    #: field of the same form (or "submitted" for the day the form was submitted)
    age_at: str | None = Field(default=None, max_length=50)


class SummaryReports(_Model):
    """Periodicity of the summary reports to ANSM (R5121-74-6) and what they aggregate."""

    periodicity_months: int = Field(ge=1, le=24)
    submission_delay_months: int = Field(default=2, ge=0, le=12)
    tables: list[ReportTable] = Field(default_factory=list, max_length=100)


class CodeList(_Model):
    """A protocol list of codes (a MedDRA/ATC subset or a PUT-SP list)."""

    label: Text
    source: str | None = Field(default=None, max_length=200)
    codes: list[Choice] = Field(min_length=1, max_length=5000)


class Protocol(_Model):
    """A PUT-SP as versioned data: product, schedule, reports and forms."""

    schema_version: Literal[1]
    key: Key
    version: str = Field(min_length=1, max_length=30)
    title: Text
    product: Product
    indications: list[Indication] = Field(min_length=1)
    ansm: AnsmReferences
    schedule: Schedule
    summary_reports: SummaryReports
    code_lists: dict[Key, CodeList] = Field(default_factory=dict)
    #: Codes that stand for a missing answer (unknown, not applicable...), which choice fields
    #: use instead of a source's numeric sentinels such as -99 or -88.
    missing_values: list[Choice] = Field(default_factory=list, max_length=20)
    forms: list[Form] = Field(min_length=1)

    def form(self, key: str) -> Form:
        """Return the form with `key`, or raise KeyError."""
        for form in self.forms:
            if form.key == key:
                return form
        raise KeyError(key)


def json_schema() -> dict[str, object]:
    """Return the JSON Schema of a definition, for editors."""
    schema = Protocol.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "AAC Portal PUT-SP protocol definition"
    return schema
