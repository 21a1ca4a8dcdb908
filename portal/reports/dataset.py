"""The report dataset: the tables a protocol declares, computed over its submitted forms.

`compute` is pure: it reads an iterable of forms (what the records door yields) once, keeps
counters and the numbers a median needs, and returns aggregate tables only: no row of it names a
case. Every count table then goes through small-cell suppression (suppression.py); what a table
shows is `Table.text(r, c)`.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from typing import Protocol as Typing
from zoneinfo import ZoneInfo

from portal.protocols.schema import (
    FieldDef,
    Form,
    FormKind,
    Protocol,
    ReportStatistic,
    ReportTable,
)
from portal.protocols.scope import NO, UNKNOWN, YES, choice_codes
from portal.reports.suppression import Grid, Mark, suppress, with_margins

INTERVAL, CUMULATIVE = "interval", "cumulative"
SCOPE_TITLES = {INTERVAL: "sur la période", CUMULATIVE: "en cumulé"}
NOT_ANSWERED = "Non renseigné"
TOTAL = "Total"
#: what a hidden (complementary) cell and a value without data show
HIDDEN_TEXT, EMPTY_TEXT = "n.d.", "—"
_YES_NO_LABELS = {YES: "Oui", NO: "Non", UNKNOWN: "Inconnu"}


class FormRow(Typing):
    """What the computation reads of one submitted form (`records.reading.SubmissionValues`,
    whose fields are read-only)."""

    @property
    def patient_id(self) -> int: ...
    @property
    def form_key(self) -> str: ...
    @property
    def submitted_at(self) -> datetime | None: ...
    @property
    def answers(self) -> dict[str, Any]: ...


@dataclass
class Table:
    """One table of the report, for one scope, as it is shown (suppression applied)."""

    key: str
    scope: str
    title: str
    #: counts (with their margins) or summary (n, median, minimum, maximum)
    kind: str
    row_header: str
    row_labels: list[str]
    column_labels: list[str]
    values: list[list[Any]]
    marks: list[list[Mark]]
    threshold: int
    note: str = ""

    def text(self, r: int, c: int) -> str:
        """What cell (r, c) shows: never a count from 1 to threshold-1."""
        mark, value = self.marks[r][c], self.values[r][c]
        if mark is Mark.primary:
            return f"<{self.threshold}"
        if mark is Mark.complementary:
            return HIDDEN_TEXT
        if value is None:
            return EMPTY_TEXT
        if isinstance(value, Decimal):
            return _decimal_text(value)
        return str(value)

    def rows_text(self) -> list[list[str]]:
        return [
            [self.text(r, c) for c in range(len(self.column_labels))]
            for r in range(len(self.row_labels))
        ]

    @property
    def full_title(self) -> str:
        return f"{self.title} ({SCOPE_TITLES[self.scope]})"


def _decimal_text(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.01")) if value != value.to_integral() else value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass
class _Accumulator:
    """Counts for one declared table and one scope."""

    spec: ReportTable
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    numbers: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(list))
    forms: int = 0


def _number(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _age(birth: Any, at: date | None) -> int | None:
    """Whole years from a birth YYYY-MM (or YYYY) to `at`; the birth day is unknown, so the
    birthday counts as reached from the first of its month."""
    if at is None or birth in (None, ""):
        return None
    text = str(birth)
    try:
        year = int(text[:4])
        month = int(text[5:7]) if len(text) >= 7 else 1
    except ValueError:
        return None
    return at.year - year - (1 if at.month < month else 0)


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _class_labels(bounds: list[Decimal]) -> list[str]:
    shown = [_decimal_text(Decimal(b)) for b in bounds]
    labels = [f"moins de {shown[0]}"]
    labels += [f"{a} à moins de {b}" for a, b in zip(shown, shown[1:], strict=False)]
    labels.append(f"{shown[-1]} et plus")
    return labels


def _class_of(value: Decimal, bounds: list[Decimal]) -> int:
    index = 0
    for bound in bounds:
        if value >= bound:
            index += 1
    return index


class _Compiled:
    """One declared table with what its rows and columns are."""

    def __init__(self, spec: ReportTable, protocol: Protocol) -> None:
        self.spec = spec
        self.form: Form = protocol.form(spec.form)
        fields = {fld.key: fld for _si, _fi, _s, fld in self.form.iter_fields()}
        self.field: FieldDef | None = fields.get(spec.field or "")
        self.by: FieldDef | None = fields.get(spec.by or "")
        self.protocol = protocol
        self.bounds = [Decimal(b) for b in spec.bounds]
        if spec.statistic == ReportStatistic.missing:
            self.missing_fields = [
                fld
                for _si, _fi, section, fld in self.form.iter_fields()
                if section.repeat is None
                and section.visible_if is None
                and fld.visible_if is None
                and fld.type != "calculated"
            ]
            self.missing_keys = [fld.key for fld in self.missing_fields]

    def labels(self, fld: FieldDef | None) -> dict[str, str]:
        if fld is None:
            return {}
        if fld.type == "yes_no":
            return {code: _YES_NO_LABELS[code] for code in choice_codes(fld, self.protocol) or []}
        if fld.type in ("single_choice", "multiple_choice"):
            return {c.code: c.label.fr for c in fld.choices}
        if fld.type == "coded" and fld.code_list:
            return {c.code: c.label.fr for c in self.protocol.code_lists[fld.code_list].codes}
        return {}

    def row_keys(self, answers: dict[str, Any]) -> list[str]:
        """The row(s) one form counts in."""
        spec, fld = self.spec, self.field
        assert fld is not None
        value = answers.get(fld.key)
        if spec.statistic == ReportStatistic.classes:
            if spec.age_at:
                at = (
                    _date(answers.get("__submitted__"))
                    if spec.age_at == "submitted"
                    else _date(answers.get(spec.age_at))
                )
                age = _age(value, at)
                number = None if age is None else Decimal(age)
            else:
                number = _number(value)
            return [NOT_ANSWERED] if number is None else [str(_class_of(number, self.bounds))]
        if fld.type == "multiple_choice":
            return [str(v) for v in value] if isinstance(value, list) and value else [NOT_ANSWERED]
        return [NOT_ANSWERED] if value in (None, "", []) else [str(value)]

    def column_key(self, answers: dict[str, Any]) -> str:
        if self.by is None:
            return ""
        value = answers.get(self.by.key)
        return NOT_ANSWERED if value in (None, "") else str(value)


def _ordered(declared: dict[str, str], seen: Iterable[str]) -> list[tuple[str, str]]:
    """Declared codes in their order, then codes seen but not declared (sorted), then
    'not answered' when it occurs."""
    seen = set(seen)
    keys = [(code, label) for code, label in declared.items()]
    extra = sorted(code for code in seen if code not in declared and code != NOT_ANSWERED)
    keys += [(code, code) for code in extra]
    if NOT_ANSWERED in seen:
        keys.append((NOT_ANSWERED, NOT_ANSWERED))
    return keys


def _count_table(compiled: _Compiled, acc: _Accumulator, scope: str, threshold: int) -> Table:
    spec = compiled.spec
    if spec.statistic == ReportStatistic.classes:
        labels = _class_labels(compiled.bounds)
        seen = {r for r, _c in acc.counts}
        # The open class below the first bound only when it occurs (an age below 0 does not).
        declared = {str(k): v for k, v in enumerate(labels) if k > 0 or "0" in seen}
    else:
        declared = compiled.labels(compiled.field)
        if (
            compiled.field is not None
            and compiled.field.type == "coded"
            and not compiled.field.code_list
        ):
            declared = {}  # MedDRA: only the codes seen, in code order
    rows = _ordered(declared, (r for r, _c in acc.counts))
    if compiled.by is not None:
        columns = _ordered(compiled.labels(compiled.by), (c for _r, c in acc.counts))
    else:
        columns = [("", "Effectif")]
    if not rows:
        rows = [("", "Aucun formulaire")]
    cells = [[acc.counts[(r, c)] for c, _ in columns] for r, _ in rows]
    additive_rows = compiled.field is not None and compiled.field.type != "multiple_choice"
    grid = with_margins(
        cells or [[0]], total_row=additive_rows, total_column=compiled.by is not None
    )
    marks = suppress(grid, threshold)
    row_labels = [label for _r, label in rows]
    column_labels = [label for _c, label in columns]
    if grid.total_column:
        column_labels.append(TOTAL)
    if grid.total_row:
        row_labels.append(TOTAL)
    header = compiled.field.label.fr if compiled.field is not None else ""
    if spec.statistic == ReportStatistic.classes and spec.age_at:
        header = "Âge (années)"
    note = "" if additive_rows else "Plusieurs réponses possibles : pas de total."
    return Table(
        spec.key,
        scope,
        spec.title.fr,
        "counts",
        header,
        row_labels,
        column_labels,
        [list(row) for row in grid.values],
        marks,
        threshold,
        note,
    )


def _summary_table(compiled: _Compiled, acc: _Accumulator, scope: str, threshold: int) -> Table:
    spec = compiled.spec
    if compiled.by is not None:
        columns = _ordered(compiled.labels(compiled.by), acc.numbers.keys())
    else:
        columns = [("", "Valeur")]
    values: list[list[Any]] = [[], [], [], []]
    marks: list[list[Mark]] = [[], [], [], []]
    for code, _label in columns:
        numbers = sorted(acc.numbers.get(code, []))
        n = len(numbers)
        small = 0 < n < threshold
        stats: list[Any] = [n] + (
            [statistics.median(numbers), numbers[0], numbers[-1]] if n else [None, None, None]
        )
        for r, value in enumerate(stats):
            values[r].append(value)
            # A median or extreme of fewer than `threshold` values is close to one person's.
            marks[r].append(
                Mark.primary if small and r == 0 else Mark.complementary if small else Mark.shown
            )
    unit = getattr(compiled.field, "unit", None)
    header = compiled.field.label.fr + (f" ({unit})" if unit else "") if compiled.field else ""
    return Table(
        spec.key,
        scope,
        spec.title.fr,
        "summary",
        header,
        ["Réponses", "Médiane", "Minimum", "Maximum"],
        [label for _c, label in columns],
        values,
        marks,
        threshold,
    )


def _missing_table(compiled: _Compiled, acc: _Accumulator, scope: str, threshold: int) -> Table:
    spec = compiled.spec
    labels = ["Formulaires remplis"] + [f.label.fr for f in compiled.missing_fields]
    cells = [[acc.forms]] + [[acc.counts[(f.key, "")]] for f in compiled.missing_fields]
    grid = Grid(tuple(tuple(row) for row in cells), total_row=False, total_column=False)
    return Table(
        spec.key,
        scope,
        spec.title.fr,
        "counts",
        "Question",
        labels,
        ["Réponses manquantes"],
        [list(r) for r in grid.values],
        suppress(grid, threshold),
        threshold,
        "La première ligne compte les formulaires ; les suivantes, les réponses "
        "manquantes à chaque question posée sans condition.",
    )


@dataclass
class _CaseCounts:
    requested: set[int] = field(default_factory=set)
    initiated: set[int] = field(default_factory=set)
    discontinued: set[int] = field(default_factory=set)


_CASE_KINDS = {
    FormKind.access: "requested",
    FormKind.initiation: "initiated",
    FormKind.discontinuation: "discontinued",
}


def _cases_table(counts: dict[str, _CaseCounts], scope: str, threshold: int) -> Table:
    cases = counts[scope]
    stopped = counts[CUMULATIVE].discontinued  # by the data lock, whenever initiated
    initiated = len(cases.initiated)
    ended = len(cases.initiated & stopped)
    grid = with_margins([[initiated - ended], [ended]], total_row=True, total_column=False)
    marks = suppress(grid, threshold)
    requests = Grid(((len(cases.requested),),), total_row=False, total_column=False)
    request_marks = suppress(requests, threshold)
    return Table(
        "cases",
        scope,
        "Demandes, initiations et statut des patients",
        "counts",
        "Patients",
        [
            "Demandes d'accès",
            "En cours de traitement à la date de gel",
            "Arrêt de traitement avant la date de gel",
            "Patients initiés",
        ],
        ["Effectif"],
        [list(requests.values[0]), *[list(r) for r in grid.values]],
        [request_marks[0], *marks],
        threshold,
        "Les patients initiés sont ceux en cours et ceux arrêtés (la dernière ligne est leur "
        "total) ; les demandes sont comptées à part.",
    )


def compute(
    protocol: Protocol,
    forms: Iterable[FormRow],
    *,
    period_start: date,
    data_lock: date,
    threshold: int,
    timezone: str = "Europe/Paris",
) -> list[Table]:
    """Every table of the report, for the interval and cumulatively.

    A form belongs to the interval when its local submission day lies from `period_start` to
    `data_lock`; `forms` must already be those submitted by the data lock, at their state then.
    """
    zone = ZoneInfo(timezone)
    compiled = [_Compiled(spec, protocol) for spec in protocol.summary_reports.tables]
    by_form: dict[str, list[tuple[_Compiled, dict[str, _Accumulator]]]] = defaultdict(list)
    for item in compiled:
        by_form[item.spec.form].append(
            (item, {INTERVAL: _Accumulator(item.spec), CUMULATIVE: _Accumulator(item.spec)})
        )
    kinds = {form.key: form.kind for form in protocol.forms}
    cases = {INTERVAL: _CaseCounts(), CUMULATIVE: _CaseCounts()}
    for row in forms:
        day = row.submitted_at.astimezone(zone).date() if row.submitted_at else None
        scopes = (
            (CUMULATIVE, INTERVAL) if day is not None and day >= period_start else (CUMULATIVE,)
        )
        kind = kinds.get(row.form_key)
        if kind in _CASE_KINDS:
            for scope in scopes:
                getattr(cases[scope], _CASE_KINDS[kind]).add(row.patient_id)
        items = by_form.get(row.form_key)
        if not items:
            continue
        answers = row.answers
        if day is not None:
            answers = {**answers, "__submitted__": day.isoformat()}
        for item, per_scope in items:
            # What the form contributes is worked out once, then counted in each scope.
            counted, numbers = _contribution(item, answers)
            for scope in scopes:
                acc = per_scope[scope]
                acc.forms += 1
                for key in counted:
                    acc.counts[key] += 1
                for column, number in numbers:
                    acc.numbers[column].append(number)
    tables: list[Table] = []
    for scope in (INTERVAL, CUMULATIVE):
        tables.append(_cases_table(cases, scope, threshold))
    for item in compiled:
        per_scope = next(acc for c, acc in by_form[item.spec.form] if c is item)
        for scope in (INTERVAL, CUMULATIVE):
            acc = per_scope[scope]
            if item.spec.statistic == ReportStatistic.summary:
                tables.append(_summary_table(item, acc, scope, threshold))
            elif item.spec.statistic == ReportStatistic.missing:
                tables.append(_missing_table(item, acc, scope, threshold))
            else:
                tables.append(_count_table(item, acc, scope, threshold))
    return tables


_EMPTY: tuple[object, ...] = (None, "", [])


def _contribution(
    item: _Compiled, answers: dict[str, Any]
) -> tuple[list[tuple[str, str]], list[tuple[str, Decimal]]]:
    """The count keys and the numbers one form adds to a table."""
    stat = item.spec.statistic
    if stat == ReportStatistic.missing:
        get = answers.get
        return [(key, "") for key in item.missing_keys if get(key) in _EMPTY], []
    column = item.column_key(answers)
    if stat == ReportStatistic.summary:
        assert item.field is not None
        number = _number(answers.get(item.field.key))
        return [], ([] if number is None else [(column, number)])
    return [(row, column) for row in item.row_keys(answers)], []


def tables_to_data(tables: list[Table]) -> list[dict[str, Any]]:
    """The tables as shown (texts only: nothing suppressed survives this)."""
    return [
        {
            "key": t.key,
            "scope": t.scope,
            "title": t.title,
            "kind": t.kind,
            "row_header": t.row_header,
            "row_labels": t.row_labels,
            "column_labels": t.column_labels,
            "cells": t.rows_text(),
            "note": t.note,
            "threshold": t.threshold,
        }
        for t in tables
    ]


def tables_from_data(data: list[dict[str, Any]]) -> list[Table]:
    """Tables stored by `tables_to_data`, to show or write again."""
    return [
        Table(
            d["key"],
            d["scope"],
            d["title"],
            d["kind"],
            d["row_header"],
            list(d["row_labels"]),
            list(d["column_labels"]),
            [list(row) for row in d["cells"]],
            [[Mark.shown] * len(row) for row in d["cells"]],
            int(d["threshold"]),
            d.get("note", ""),
        )
        for d in data
    ]
