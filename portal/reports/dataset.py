"""The report dataset: the tables a protocol declares, computed over its submitted forms.

`compute` is pure: it reads an iterable of forms (what the records door yields) once, keeps
counters and the numbers a median needs, and returns aggregate tables only: no row of it names a
case. Every count table then goes through small-cell suppression (suppression.py); what a table
shows is `Table.text(r, c)`.
"""

from __future__ import annotations

import json
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
from portal.records.reading import Filled, VisitStatus, visit_schedule
from portal.reports.suppression import (
    Equation,
    Grid,
    Key,
    Mark,
    System,
    grid_equations,
    suppress_system,
    with_margins,
)

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
    #: what each count cell counts (`quantity`), None for what is not a count; not stored
    keys: list[list[Key | None]] = field(default_factory=list, repr=False)
    #: the table's own equations over those keys (parts minus total); not stored
    equations: list[Equation] = field(default_factory=list, repr=False)

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
        #: what a row and a column condition on, in the tables' quantity keys: the field, or
        #: for classes the field cut at these bounds (another condition than its answers)
        self.row_on = spec.field or ""
        if spec.statistic == ReportStatistic.classes:
            cuts = ",".join(_decimal_text(b) for b in self.bounds)
            self.row_on = f"{spec.field}~classes~{cuts}~{spec.age_at or ''}"
        elif spec.statistic == ReportStatistic.summary:
            self.row_on = f"{spec.field}~number"
        self.column_on = spec.by or ""
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


def quantity(scope: str, form: str, conditions: Iterable[tuple[str, str]] = ()) -> Key:
    """The key of a count: the forms of `form` in `scope` meeting every (field, answer)
    condition. Two tables counting the same forms give the same key; a form name starting with
    "#" is a count of something else than forms (patients, rectifications)."""
    return json.dumps(
        [scope, form, sorted([str(a), str(b)] for a, b in conditions if a)],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _grid_keys(
    scope: str,
    form: str,
    grid: Grid,
    rows: list[tuple[str, str]],
    row_on: str,
    columns: list[tuple[str, str]],
    column_on: str,
) -> list[list[Key | None]]:
    """The key of each cell of a count grid. An empty table keeps its keys (zeros): it tells
    the reader that every count of its kind is zero."""
    row_codes: list[str | None] = [code for code, _label in rows]
    column_codes: list[str | None] = [code for code, _label in columns]
    if grid.total_row:
        row_codes.append(None)
    if grid.total_column:
        column_codes.append(None)
    keys: list[list[Key | None]] = []
    for r in row_codes:
        keys.append(
            [
                quantity(
                    scope,
                    form,
                    [
                        *([(row_on, r)] if r is not None else []),
                        *([(column_on, c)] if c is not None and column_on else []),
                    ],
                )
                for c in column_codes
            ]
        )
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
    keys = _grid_keys(
        scope, spec.form, grid, rows, compiled.row_on, columns, compiled.column_on
    )
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
        _unmarked(grid.values),
        threshold,
        note,
        keys,
        grid_equations(grid, keys),
    )


def _unmarked(values: Iterable[Iterable[Any]]) -> list[list[Mark]]:
    return [[Mark.shown for _v in row] for row in values]


def _summary_table(compiled: _Compiled, acc: _Accumulator, scope: str, threshold: int) -> Table:
    spec = compiled.spec
    if compiled.by is not None:
        columns = _ordered(compiled.labels(compiled.by), acc.numbers.keys())
    else:
        columns = [("", "Valeur")]
    values: list[list[Any]] = [[], [], [], []]
    keys: list[list[Key | None]] = [[], [], [], []]
    for code, _label in columns:
        numbers = sorted(acc.numbers.get(code, []))
        n = len(numbers)
        stats: list[Any] = [n] + (
            [statistics.median(numbers), numbers[0], numbers[-1]] if n else [None, None, None]
        )
        for r, value in enumerate(stats):
            values[r].append(value)
        # The number of answers is a count like any other; the statistics follow it.
        keys[0].append(
            quantity(
                scope,
                spec.form,
                [(compiled.row_on, "answered"), (compiled.column_on, code)],
            )
        )
        for r in (1, 2, 3):
            keys[r].append(None)
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
        _unmarked(values),
        threshold,
        keys=keys,
    )


def _missing_table(compiled: _Compiled, acc: _Accumulator, scope: str, threshold: int) -> Table:
    spec = compiled.spec
    labels = ["Formulaires remplis"] + [f.label.fr for f in compiled.missing_fields]
    cells = [[acc.forms]] + [[acc.counts[(f.key, "")]] for f in compiled.missing_fields]
    # "Not answered" is the same condition as a count table's row of that name.
    keys: list[list[Key | None]] = [[quantity(scope, spec.form)]]
    keys += [[quantity(scope, spec.form, [(f.key, NOT_ANSWERED)])] for f in compiled.missing_fields]
    return Table(
        spec.key,
        scope,
        spec.title.fr,
        "counts",
        "Question",
        labels,
        ["Réponses manquantes"],
        [list(r) for r in cells],
        _unmarked(cells),
        threshold,
        "La première ligne compte les formulaires ; les suivantes, les réponses "
        "manquantes à chaque question posée sans condition.",
        keys,
    )


@dataclass
class _CaseCounts:
    requested: set[int] = field(default_factory=set)
    initiated: set[int] = field(default_factory=set)
    discontinued: set[int] = field(default_factory=set)


#: what the schedule needs of the forms of a treatment (the visit choice and dates): only
#: these answers are kept per patient, so that memory grows with the patients, not the forms
_SCHEDULE_FIELD_TYPES = frozenset({"single_choice", "date"})
_SCHEDULE_KINDS = frozenset({FormKind.initiation, FormKind.follow_up, FormKind.discontinuation})


def _schedule_keys(protocol: Protocol) -> dict[str, frozenset[str]]:
    return {
        form.key: frozenset(
            fld.key
            for _si, _fi, section, fld in form.iter_fields()
            if section.repeat is None and fld.type in _SCHEDULE_FIELD_TYPES
        )
        for form in protocol.forms
        if form.kind in _SCHEDULE_KINDS
    }


#: the schedule's repeating visits go this far (months; as the records' schedule does)
_SCHEDULE_MONTHS = 30 * 12
#: follow-ups without a visit answer fill the visits in order: more than there can be visits
#: changes nothing, so no more are kept per patient and form
_MAX_UNMATCHED = _SCHEDULE_MONTHS + 50


def _visit_fields(protocol: Protocol) -> dict[str, str]:
    """Per follow-up form, the field whose answer names the visit (the schedule's rule: the
    first single choice among whose choices is a visit code)."""
    schedule = protocol.schedule
    codes = {tp.code for tp in schedule.timepoints}
    if schedule.then is not None:
        base = next((tp for tp in schedule.timepoints if tp.code == schedule.then.after), None)
        month = base.month if base is not None and base.month is not None else 0
        while month < _SCHEDULE_MONTHS:
            month += schedule.then.every_months
            codes.add(f"M{month}")
    found = {}
    for form in protocol.forms:
        for _si, _fi, _section, fld in form.iter_fields():
            if fld.type == "single_choice" and {c.code for c in fld.choices} & codes:
                found[form.key] = fld.key
                break
    return found


class _Kept:
    """Per patient, the forms of the treatment the schedule needs, and no more: the first
    initiation and discontinuation, the first follow-up naming each visit, the others up to
    `_MAX_UNMATCHED`. The schedule's result is the same as with every form."""

    def __init__(self, protocol: Protocol) -> None:
        self.keys = _schedule_keys(protocol)
        self.visit_fields = _visit_fields(protocol)
        self.filled: dict[int, list[Filled]] = defaultdict(list)
        self.seen: set[tuple[int, str, str]] = set()
        self.unmatched: Counter[tuple[int, str]] = Counter()

    def add(self, patient: int, form_key: str, kind: FormKind, day: date, answers: Any) -> None:
        kept = self.keys.get(form_key)
        if kept is None:
            return
        if kind in (FormKind.initiation, FormKind.discontinuation):
            mark = (patient, str(kind), "")
            if mark in self.seen:
                return
            self.seen.add(mark)
        else:
            field_key = self.visit_fields.get(form_key)
            visit = answers.get(field_key) if field_key else None
            if isinstance(visit, str):
                mark = (patient, form_key, visit)
                if mark in self.seen:
                    return
                self.seen.add(mark)
            else:
                if self.unmatched[(patient, form_key)] >= _MAX_UNMATCHED:
                    return
                self.unmatched[(patient, form_key)] += 1
        reduced = {k: answers[k] for k in kept if k in answers}
        self.filled[patient].append(Filled("", form_key, kind, day, reduced))


def _treatment(filled: list[Filled], data_lock: date) -> tuple[date, date] | None:
    """(first day, last day) of a patient's treatment as of the data lock: from the
    initiation's start date (else the day it was submitted) to the discontinuation's stop date
    (else the day it was submitted), or to the data lock while it goes on. The schedule of the
    patient's visits counts from the same first day."""
    initiation = next((f for f in filled if f.kind == FormKind.initiation), None)
    if initiation is None:
        return None
    start = _date(initiation.answers.get("start_date")) or initiation.submitted_on
    stop = next((f for f in filled if f.kind == FormKind.discontinuation), None)
    end = (_date(stop.answers.get("stop_date")) or stop.submitted_on) if stop else data_lock
    end = min(end, data_lock)
    return start, max(start, end)


#: exposure is shown in days; its cumulated total in patient-years
_DAYS_PER_YEAR = Decimal("365.25")


def _exposure_tables(
    treatments: dict[int, tuple[date, date]],
    period_start: date,
    data_lock: date,
    initiated_key: dict[str, Key],
    threshold: int,
) -> list[Table]:
    """Exposure to the treatment, per patient initiated: days on treatment by the data lock
    (cumulative), and days on treatment within the interval for those treated during it."""
    tables = []
    for scope in (INTERVAL, CUMULATIVE):
        days: list[int] = []
        for start, end in treatments.values():
            if scope == CUMULATIVE:
                days.append((end - start).days + 1)
            elif end >= period_start and start <= data_lock:
                days.append((min(end, data_lock) - max(start, period_start)).days + 1)
        days.sort()
        n = len(days)
        values: list[list[Any]] = [
            [n],
            [statistics.median([Decimal(d) for d in days]) if n else None],
            [days[0] if n else None],
            [days[-1] if n else None],
            # One decimal always: a duration, never to be read as a count.
            [f"{(Decimal(sum(days)) / _DAYS_PER_YEAR).quantize(Decimal('0.1'))}" if n else None],
        ]
        # The patients initiated by the lock are those the cases table counts; those treated
        # during the interval are a count of their own.
        count_key = (
            initiated_key[scope]
            if scope == CUMULATIVE
            else quantity(scope, "#patients", [("treated", "")])
        )
        tables.append(
            Table(
                "exposure_duration",
                scope,
                "Durée d'exposition au traitement (jours)",
                "summary",
                "Patients initiés",
                ["Patients", "Médiane", "Minimum", "Maximum", "Cumul (patients-années)"],
                ["Valeur"],
                values,
                _unmarked(values),
                threshold,
                "Du début du traitement à son arrêt, ou à la date de gel s'il se poursuit ; "
                "sur la période, les seuls jours de traitement compris dans la période.",
                [[count_key], [None], [None], [None], [None]],
            )
        )
    return tables


def _visit_label(protocol: Protocol, code: str) -> str:
    for tp in protocol.schedule.timepoints:
        if tp.code == code:
            return tp.label.fr
    return f"Mois {code[1:]}" if code[1:].isdigit() else code


def _overdue_tables(
    protocol: Protocol,
    filled: dict[int, list[Filled]],
    period_start: date,
    data_lock: date,
    threshold: int,
) -> list[Table]:
    """Scheduled visits whose window had closed by the data lock without their form
    (completeness): per visit, cumulatively and for the windows that closed in the interval."""
    counts: dict[str, Counter[str]] = {INTERVAL: Counter(), CUMULATIVE: Counter()}
    for forms in filled.values():
        if not any(f.kind == FormKind.initiation for f in forms):
            continue
        schedule = visit_schedule(protocol, forms, data_lock, lambda month: f"M{month}")
        for visit in schedule.visits:
            if visit.status != VisitStatus.OVERDUE:
                continue
            counts[CUMULATIVE][visit.code] += 1
            if visit.window_end is not None and visit.window_end >= period_start:
                counts[INTERVAL][visit.code] += 1
    fixed = [tp.code for tp in protocol.schedule.timepoints]
    repeating = sorted(
        {code for c in counts.values() for code in c if code not in fixed},
        key=lambda code: (len(code), code),
    )
    codes = fixed + repeating
    tables = []
    for scope in (INTERVAL, CUMULATIVE):
        grid = with_margins(
            [[counts[scope][code]] for code in codes], total_row=True, total_column=False
        )
        # A state at the lock, not a sum over intervals: counts of their own.
        keys: list[list[Key | None]] = [
            [quantity(scope, "#overdue", [("visit", code)])] for code in codes
        ]
        keys.append([quantity(scope, "#overdue")])
        tables.append(
            Table(
                "overdue_visits",
                scope,
                "Complétude : visites en retard à la date de gel",
                "counts",
                "Visite",
                [*(_visit_label(protocol, code) for code in codes), TOTAL],
                ["Formulaires attendus non remplis"],
                [list(r) for r in grid.values],
                _unmarked(grid.values),
                threshold,
                "Visites dont la fenêtre s'est fermée avant la date de gel sans formulaire (hors "
                "visites après un arrêt de traitement) ; sur la période, celles dont la fenêtre "
                "s'est fermée pendant la période.",
                keys,
                grid_equations(grid, keys),
            )
        )
    return tables


_CASE_KINDS = {
    FormKind.access: "requested",
    FormKind.initiation: "initiated",
    FormKind.discontinuation: "discontinued",
}


def _patients_key(protocol: Protocol, kind: FormKind, scope: str, name: str) -> Key:
    """The patients with a form of `kind`: the count of that form when it is the protocol's
    only form of the kind and is filled once per patient, else a count of its own."""
    forms = [f for f in protocol.forms if f.kind == kind]
    if len(forms) == 1 and not forms[0].repeatable:
        return quantity(scope, forms[0].key)
    return quantity(scope, "#patients", [(name, "")])


def _cases_table(
    protocol: Protocol, counts: dict[str, _CaseCounts], scope: str, threshold: int
) -> Table:
    cases = counts[scope]
    stopped = counts[CUMULATIVE].discontinued  # by the data lock, whenever initiated
    initiated = len(cases.initiated)
    ended = len(cases.initiated & stopped)
    grid = with_margins([[initiated - ended], [ended]], total_row=True, total_column=False)
    # Patients ongoing and stopped at the lock are not sums over intervals: counts of their own.
    status_keys: list[list[Key | None]] = [
        [quantity(scope, "#patients", [("ongoing", "")])],
        [quantity(scope, "#patients", [("ended", "")])],
        [_patients_key(protocol, FormKind.initiation, scope, "initiated")],
    ]
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
        [[len(cases.requested)], *[list(r) for r in grid.values]],
        [[Mark.shown] for _r in range(4)],
        threshold,
        "Les patients initiés sont ceux en cours et ceux arrêtés (la dernière ligne est leur "
        "total) ; les demandes sont comptées à part.",
        [[_patients_key(protocol, FormKind.access, scope, "requested")], *status_keys],
        grid_equations(grid, status_keys),
    )


@dataclass(frozen=True)
class Published:
    """What a report published, as the next report of the series must take it into account:
    each quantity's count as shown (None when it was hidden) and its tables' equations."""

    values: dict[Key, int | None]
    equations: list[Equation]

    def to_data(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "equations": [[[k, c] for k, c in eq] for eq in self.equations],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Published:
        return cls(
            {str(k): (None if v is None else int(v)) for k, v in data["values"].items()},
            [tuple((str(k), int(c)) for k, c in eq) for eq in data["equations"]],
        )


#: prefix of the previous report's keys in the system of the next one
PREVIOUS = "previous:"


def _family(key: Key) -> tuple[str, tuple[str, ...]] | None:
    """(form, the fields conditioned on) of a count of forms; None for other counts."""
    _scope, form, conditions = json.loads(key)
    if form.startswith("#"):
        return None
    return form, tuple(sorted(name for name, _value in conditions))


def _in_scope(key: Key, scope: str) -> Key:
    _scope, form, conditions = json.loads(key)
    return json.dumps([scope, form, conditions], ensure_ascii=False, separators=(",", ":"))


def _between_reports(
    values: dict[Key, int], previous: Published | None, nothing_before: set[str]
) -> list[Equation]:
    """The equations a reader gets from the series: a cumulative count is this interval's plus
    the previous report's cumulative one (exact without rectifications; assumed exact, which
    can only hide more). Without a previous report, the cumulative count is the interval's
    when no form of its kind was submitted before the interval.

    A count a table does not list is a zero (the tables list every answer seen), provided the
    table exists in the report concerned."""
    earlier = {} if previous is None else previous.values  # keys as that report gave them
    families = {
        scope: {f for k in values if json.loads(k)[0] == scope and (f := _family(k))}
        for scope in (INTERVAL, CUMULATIVE)
    }
    earlier_families = {f for k in earlier if (f := _family(k))}
    bases = {_in_scope(k, CUMULATIVE) for k in values if _family(k) is not None}
    bases |= {k for k in earlier if json.loads(k)[0] == CUMULATIVE and _family(k) is not None}
    found: list[Equation] = []
    for cumulative in sorted(bases):
        family = _family(cumulative)
        assert family is not None
        if family not in families[CUMULATIVE] or family not in families[INTERVAL]:
            continue
        terms: list[tuple[Key, int]] = [(cumulative, 1), (_in_scope(cumulative, INTERVAL), -1)]
        if family in earlier_families:
            terms.append((PREVIOUS + cumulative, -1))
        elif family[0] not in nothing_before:
            continue  # the forms before the interval were never published
        found.append(tuple(terms))
    return found


def _suppress(
    tables: list[Table],
    threshold: int,
    previous: Published | None,
    nothing_before: set[str],
) -> Published:
    """Suppression over the whole report and against the previous one; sets every table's
    marks and returns what the report publishes."""
    values: dict[Key, int] = {}
    order: dict[Key, int] = {}
    for table in tables:
        for r, row in enumerate(table.keys):
            for c, key in enumerate(row):
                if key is None:
                    continue
                value = int(table.values[r][c])
                if key in values and values[key] != value:
                    # Not the same count after all (answers read differently): keep it apart.
                    renamed = quantity(table.scope, f"#{table.key}", [(str(r), str(c))])
                    table.keys[r][c] = renamed
                    table.equations = [
                        tuple((renamed if k == key else k, v) for k, v in eq)
                        for eq in table.equations
                    ]
                    key = renamed
                values[key] = value
                order.setdefault(key, len(order))
    own = [eq for table in tables for eq in table.equations]
    equations = own + _between_reports(values, previous, nothing_before)
    if previous is not None:
        equations += [tuple((PREVIOUS + k, c) for k, c in eq) for eq in previous.equations]
    published = (
        {} if previous is None else {PREVIOUS + k: v for k, v in previous.values.items()}
    )
    marks = suppress_system(System(values, equations, published, order), threshold)
    for table in tables:
        for r, row in enumerate(table.keys):
            for c, key in enumerate(row):
                if key is not None:
                    table.marks[r][c] = marks[key]
        if table.kind == "summary":
            # A median or extreme of fewer than `threshold` values is close to one person's.
            for c, mark in enumerate(table.marks[0]):
                if mark is Mark.primary:
                    for r in range(1, len(table.row_labels)):
                        table.marks[r][c] = Mark.complementary
    return Published(
        {k: (v if marks[k] is Mark.shown else None) for k, v in sorted(values.items())},
        own,
    )


@dataclass
class Computed:
    tables: list[Table]
    #: what the report publishes, for the next one's suppression
    published: Published


def compute(
    protocol: Protocol,
    forms: Iterable[FormRow],
    *,
    period_start: date,
    data_lock: date,
    threshold: int,
    timezone: str = "Europe/Paris",
    previous: Published | None = None,
) -> list[Table]:
    """Every table of the report, for the interval and cumulatively (see `compute_report`)."""
    return compute_report(
        protocol,
        forms,
        period_start=period_start,
        data_lock=data_lock,
        threshold=threshold,
        timezone=timezone,
        previous=previous,
    ).tables


def compute_report(
    protocol: Protocol,
    forms: Iterable[FormRow],
    *,
    period_start: date,
    data_lock: date,
    threshold: int,
    timezone: str = "Europe/Paris",
    previous: Published | None = None,
) -> Computed:
    """Every table of the report, for the interval and cumulatively, suppressed together and
    against what the `previous` report of the series published.

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
    before: Counter[str] = Counter()
    kept = _Kept(protocol)
    by_submission_day = {
        item.spec.form for item in compiled if item.spec.age_at == "submitted"
    }
    for row in forms:
        day = row.submitted_at.astimezone(zone).date() if row.submitted_at else None
        scopes = (
            (CUMULATIVE, INTERVAL) if day is not None and day >= period_start else (CUMULATIVE,)
        )
        if len(scopes) == 1:
            before[row.form_key] += 1
        kind = kinds.get(row.form_key)
        if kind in _CASE_KINDS:
            for scope in scopes:
                getattr(cases[scope], _CASE_KINDS[kind]).add(row.patient_id)
        if kind in _SCHEDULE_KINDS and day is not None:
            kept.add(row.patient_id, row.form_key, kind, day, row.answers)
        items = by_form.get(row.form_key)
        if not items:
            continue
        answers = row.answers
        if day is not None and row.form_key in by_submission_day:
            # Copied only for the forms a table classes by the day they were submitted.
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
        tables.append(_cases_table(protocol, cases, scope, threshold))
    treatments = {
        patient: span
        for patient, forms_of in kept.filled.items()
        if patient in cases[CUMULATIVE].initiated
        and (span := _treatment(forms_of, data_lock)) is not None
    }
    initiated_key = {
        scope: _patients_key(protocol, FormKind.initiation, scope, "initiated")
        for scope in (INTERVAL, CUMULATIVE)
    }
    tables += _exposure_tables(treatments, period_start, data_lock, initiated_key, threshold)
    tables += _overdue_tables(protocol, kept.filled, period_start, data_lock, threshold)
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
    nothing_before = {form.key for form in protocol.forms if not before[form.key]}
    published = _suppress(tables, threshold, previous, nothing_before)
    return Computed(tables, published)


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
