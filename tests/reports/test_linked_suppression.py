"""Suppression across the tables of a report and across the reports of a series: a count hidden
in one table cannot be recomputed from another table of the same report, nor by differencing
with the previous report.

The check is independent of the keys the portal gives its counts: it reads the tables as a
reader gets them (labels and texts), writes the equations such a reader knows by hand (each
table's totals; the requests by sex are the column totals of the age classes by sex; every
count of requests is the same number; a cumulative count is the interval's plus the previous
report's), and proves by a rank argument that no hidden cell is determined by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.protocols.loader import load_path
from portal.protocols.schema import Protocol
from portal.reports.dataset import CUMULATIVE, INTERVAL, Computed, Table, compute_report
from portal.reports.suppression import Mark, System, determined, suppress_system
from tests.protocols.support import DEMO

THRESHOLD = 5
FIRST_START, FIRST_LOCK = date(2027, 1, 1), date(2027, 6, 30)
SECOND_LOCK = date(2027, 12, 31)
#: when a form is submitted: before the first interval, in the first, in the second
WHEN = {
    "before": datetime(2026, 11, 10, 10, tzinfo=UTC),
    "first": datetime(2027, 3, 10, 10, tzinfo=UTC),
    "second": datetime(2027, 9, 10, 10, tzinfo=UTC),
}
#: the form each table counts (tables of forms never drawn here count zeros); the cases' rows
#: counted here are the requests
TABLE_FORMS = {
    "cases": "access", "sex": "access", "age": "access", "access_indication": "access",
    "weight": "access", "ae_serious": "adverse_event", "ae_outcome": "adverse_event",
    "ae_action": "adverse_event",
}
#: tables whose counts add up from one report to the next (the cases' status does not)
ADDITIVE_ROWS = {"cases": {"Demandes d'accès", "Patients initiés"}}


@cache
def demo() -> Protocol:
    return load_path(DEMO).definition


@dataclass(frozen=True)
class Row:
    patient_id: int
    form_key: str
    submitted_at: datetime | None
    answers: dict[str, Any]


access_form = st.fixed_dictionaries(
    {
        "when": st.sampled_from(["before", "first", "second", "second"]),
        "sex": st.sampled_from(["F", "F", "M", None]),
        "indication": st.sampled_from(["IND-1", "IND-1", "IND-2", None]),
        "birth": st.sampled_from(["1950-03", "1990-07", "2015-01", None]),
        "weight": st.sampled_from([None, "61.5", "70"]),
    }
)


adverse_event = st.fixed_dictionaries(
    {
        "when": st.sampled_from(["before", "first", "second", "second"]),
        "code": st.sampled_from(["10019211", "10019211", "10022891", "10047700"]),
        "serious": st.sampled_from(["no", "no", "yes"]),
        "outcome": st.sampled_from(["recovering", "recovered", "fatal"]),
        "action": st.sampled_from(["none", "none", "withdrawn"]),
    }
)


def _rows(drawn: list[dict[str, Any]], periods: set[str]) -> list[Row]:
    rows = []
    for i, form in enumerate(drawn):
        if form["when"] not in periods:
            continue
        if "code" in form:
            # An adverse event of one of the patients (a case may have several).
            rows.append(Row(i % 7, "adverse_event", WHEN[form["when"]], {
                "meddra_llt_code": form["code"], "serious": form["serious"],
                "outcome": form["outcome"], "action_taken": form["action"],
            }))
            continue
        answers = {
            "sex": form["sex"],
            "indication": form["indication"],
            "birth_month_year": form["birth"],
            "aac_decision_date": "2027-01-15",
            "weight_kg": form["weight"],
        }
        rows.append(Row(i, "access", WHEN[form["when"]], answers))
    return rows


def _reports(drawn: list[dict[str, Any]]) -> tuple[Computed, Computed]:
    first = compute_report(
        demo(),
        _rows(drawn, {"before", "first"}),
        period_start=FIRST_START,
        data_lock=FIRST_LOCK,
        threshold=THRESHOLD,
    )
    second = compute_report(
        demo(),
        _rows(drawn, {"before", "first", "second"}),
        period_start=FIRST_LOCK + timedelta(days=1),
        data_lock=SECOND_LOCK,
        threshold=THRESHOLD,
        previous=first.published,
    )
    return first, second


# --- the reader's equations, written from the tables as shown --------------------------------

Cell = tuple[int, str, str, str, str]  # report, table key, scope, row label, column label


class Reader:
    """What a reader of the two reports knows: shown counts, hidden cells, equations."""

    def __init__(self, reports: list[list[Table]]) -> None:
        self.known: dict[Cell, int] = {}
        self.hidden: set[Cell] = set()
        self.tables: dict[tuple[int, str, str], Table] = {}
        self.equations: list[list[tuple[Cell, int]]] = []
        for n, tables in enumerate(reports):
            for table in tables:
                self.tables[(n, table.key, table.scope)] = table
                for r, row in enumerate(table.rows_text()):
                    if table.kind == "summary" and r > 0:
                        continue  # median and extremes are not counts
                    for c, text in enumerate(row):
                        cell = (n, table.key, table.scope, table.row_labels[r],
                                table.column_labels[c])
                        if text.isdigit():
                            self.known[cell] = int(text)
                        else:
                            self.hidden.add(cell)

    def cell(self, n: int, key: str, scope: str, row: str, column: str) -> Cell | None:
        """The cell, or None when the table does not list it (a zero)."""
        table = self.tables.get((n, key, scope))
        if table is None or row not in table.row_labels or column not in table.column_labels:
            return None
        return (n, key, scope, row, column)

    def equal(self, *cells: Cell | None) -> None:
        present = [c for c in cells if c is not None]
        for other in present[1:]:
            self.equations.append([(present[0], 1), (other, -1)])

    def sum(self, parts: list[Cell | None], total: Cell | None) -> None:
        self.equations.append([(c, 1) for c in parts if c is not None] +
                              ([(total, -1)] if total is not None else []))

    def table_totals(self) -> None:
        for (n, key, scope), table in self.tables.items():
            if table.kind != "counts":
                continue

            def at(r: str, c: str, n: int = n, key: str = key, scope: str = scope) -> Cell:
                return (n, key, scope, r, c)

            rows = [r for r in table.row_labels if r != "Total"]
            columns = [c for c in table.column_labels if c != "Total"]
            if "Total" in table.row_labels:
                for c in table.column_labels:
                    self.sum([at(r, c) for r in rows], at("Total", c))
            if "Total" in table.column_labels:
                for r in table.row_labels:
                    self.sum([at(r, c) for c in columns], at(r, "Total"))
            if table.key == "cases":
                self.sum([at("En cours de traitement à la date de gel", "Effectif"),
                          at("Arrêt de traitement avant la date de gel", "Effectif")],
                         at("Patients initiés", "Effectif"))

    def same_counts(self, n: int, scope: str) -> None:
        """Within one report and scope: the counts several tables give of the same forms."""
        for sex in ("Masculin", "Féminin", "Non renseigné"):
            self.equal(self.cell(n, "sex", scope, sex, "Effectif"),
                       self.cell(n, "age", scope, "Total", sex))
        self.equal(
            self.cell(n, "sex", scope, "Total", "Effectif"),
            self.cell(n, "age", scope, "Total", "Total"),
            self.cell(n, "access_indication", scope, "Total", "Effectif"),
            self.cell(n, "cases", scope, "Demandes d'accès", "Effectif"),
        )
        # The adverse events by seriousness are the column totals of two tables, and all of
        # them the total of a third.
        for serious in ("Oui", "Non", "Inconnu", "Non renseigné", "Total"):
            self.equal(self.cell(n, "ae_serious", scope, "Total", serious),
                       self.cell(n, "ae_outcome", scope, "Total", serious))
        self.equal(self.cell(n, "ae_serious", scope, "Total", "Total"),
                   self.cell(n, "ae_action", scope, "Total", "Effectif"))

    def additive(self, n: int, key: str, scope: str) -> list[tuple[str, str]]:
        table = self.tables[(n, key, scope)]
        rows = table.row_labels[:1] if table.kind == "summary" else table.row_labels
        return [(r, c) for r in rows for c in table.column_labels
                if table.key not in ADDITIVE_ROWS or r in ADDITIVE_ROWS[table.key]]

    def differencing(self, before: set[str]) -> None:
        """Second report: cumulative = interval + first report's cumulative. First report,
        for the tables of a form nothing was submitted of before its interval: cumulative =
        interval (`before`: the forms submitted before it)."""
        keys = {key for _n, key, _scope in self.tables}
        for key in keys:
            labels = set(self.additive(1, key, CUMULATIVE)) | set(self.additive(1, key, INTERVAL))
            labels |= set(self.additive(0, key, CUMULATIVE))
            for r, c in labels:
                self.sum([self.cell(1, key, INTERVAL, r, c), self.cell(0, key, CUMULATIVE, r, c)],
                         self.cell(1, key, CUMULATIVE, r, c))
            if TABLE_FORMS.get(key, key) in before:
                continue
            for r, c in set(self.additive(0, key, CUMULATIVE)) | set(
                    self.additive(0, key, INTERVAL)):
                self.sum([self.cell(0, key, INTERVAL, r, c)], self.cell(0, key, CUMULATIVE, r, c))

    def assert_nothing_derivable(self) -> None:
        """Every hidden cell takes another value in some other table fitting what is shown:
        the homogeneous system over the hidden cells has a solution moving it (a null-space
        vector not zero there)."""
        hidden = sorted(self.hidden)
        column = {cell: k for k, cell in enumerate(hidden)}
        matrix = []
        for eq in self.equations:
            row = [Fraction(0)] * len(hidden)
            for cell, value in eq:
                if cell in column:
                    row[column[cell]] += value
            if any(row):
                matrix.append(row)
        basis = _null_space(matrix, len(hidden))
        for cell in hidden:
            moving = next((v for v in basis if v[column[cell]]), None)
            assert moving is not None, f"{cell} can be recomputed"
            # Not the elimination's word for it: the other table it gives (the hidden cells
            # moved along `moving`, the shown ones as they are) is put back into every
            # equation the reader knows, and each must still hold.
            for eq in self.equations:
                assert sum(value * moving[column[c]] for c, value in eq if c in column) == 0, \
                    f"{cell}: the other table found breaks {eq}"


def _null_space(matrix: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    """A basis of the solutions of matrix . x = 0 (reduced row echelon form, then one vector
    per free column)."""
    rows = [list(r) for r in matrix]
    pivots: list[int] = []
    r = 0
    for col in range(width):
        pick = next((i for i in range(r, len(rows)) if rows[i][col]), None)
        if pick is None:
            continue
        rows[r], rows[pick] = rows[pick], rows[r]
        lead = rows[r][col]
        rows[r] = [v / lead for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][col]:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append(col)
        r += 1
    basis = []
    for free in (c for c in range(width) if c not in pivots):
        vector = [Fraction(0)] * width
        vector[free] = Fraction(1)
        for i, col in enumerate(pivots):
            vector[col] = -rows[i][free]
        basis.append(vector)
    return basis


def _reader(first: Computed, second: Computed, drawn: list[dict[str, Any]]) -> Reader:
    reader = Reader([first.tables, second.tables])
    reader.table_totals()
    for n in (0, 1):
        for scope in (INTERVAL, CUMULATIVE):
            reader.same_counts(n, scope)
    reader.differencing({
        "adverse_event" if "code" in form else "access" for form in drawn
        if form["when"] == "before"
    })
    return reader


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(access_form, adverse_event), max_size=30))
def test_no_count_can_be_recomputed_from_other_tables_or_the_previous_report(
    drawn: list[dict[str, Any]],
) -> None:
    first, second = _reports(drawn)
    for computed in (first, second):
        for table in computed.tables:
            for r, row in enumerate(table.rows_text()):
                if table.kind == "summary" and r > 0:
                    continue
                assert not any(text in {"1", "2", "3", "4"} for text in row), table.key
    _reader(first, second, drawn).assert_nothing_derivable()


def test_a_count_hidden_in_one_table_is_hidden_in_every_table_giving_it() -> None:
    # Interval of the first report: 3 men, 5 women. The requests by sex hide women (5) beside
    # men (<5); the age classes by sex give the same two numbers as their column totals.
    drawn = [{"when": "first", "sex": "M", "indication": "IND-1", "birth": "1990-07",
              "weight": "70"}] * 3 + [
        {"when": "first", "sex": "F", "indication": "IND-1", "birth": "1950-03",
         "weight": "70"}] * 5 + [
        {"when": "before", "sex": "F", "indication": "IND-2", "birth": "1990-07",
         "weight": None}] * 9
    first, _second = _reports(drawn)
    tables = {(t.key, t.scope): t for t in first.tables}
    sex = dict(zip(tables[("sex", INTERVAL)].row_labels, tables[("sex", INTERVAL)].rows_text(),
                   strict=True))
    assert sex == {"Masculin": ["<5"], "Féminin": ["n.d."], "Total": ["8"]}
    age = tables[("age", INTERVAL)]
    totals = dict(zip(age.column_labels, age.rows_text()[age.row_labels.index("Total")],
                      strict=True))
    # Shown alone, this table would give the women's total 5 and so the men's 3.
    assert totals["Masculin"] == "<5"
    assert totals["Féminin"] == "n.d."
    assert totals["Total"] == "8"


def test_a_count_the_previous_report_showed_cannot_be_subtracted() -> None:
    # First report: 7 women, 6 men, all shown. Second interval: 2 more women. Alone, the
    # second report could show 9 women cumulatively and hide the interval's <5: the difference
    # with the first report would give it back.
    man = {"when": "first", "sex": "M", "indication": "IND-1", "birth": "1990-07",
           "weight": "70"}
    woman = {**man, "sex": "F"}
    drawn = [woman] * 7 + [man] * 6 + [{**woman, "when": "second"}] * 2
    first, second = _reports(drawn)
    shown_first = {t.key: t.rows_text() for t in first.tables if t.scope == CUMULATIVE}
    assert shown_first["sex"] == [["6"], ["7"], ["13"]]
    cumulative = next(t for t in second.tables if t.key == "sex" and t.scope == CUMULATIVE)
    rows = dict(zip(cumulative.row_labels, cumulative.rows_text(), strict=True))
    assert rows["Féminin"] != ["9"]
    assert rows["Féminin"] == ["n.d."]
    _reader(first, second, drawn).assert_nothing_derivable()
    # The check itself: suppressed without the first report, the second one leaks.
    alone = compute_report(
        demo(),
        _rows(drawn, {"first", "second"}),
        period_start=FIRST_LOCK + timedelta(days=1),
        data_lock=SECOND_LOCK,
        threshold=THRESHOLD,
    )
    with pytest.raises(AssertionError, match="can be recomputed"):
        _reader(first, alone, drawn).assert_nothing_derivable()


def test_a_partner_the_previous_report_pins_is_not_chosen() -> None:
    # This report: a + c = t with c = 3 (small), a = 6, t = 9. The previous report showed a
    # at 6 and the interval adds none (a zero): hiding a would protect nothing, since a reader
    # gets it back by difference; the total is hidden instead.
    system = System(
        values={"a": 6, "c": 3, "t": 9, "a+": 0, "c+": 3, "t+": 3},
        equations=[
            (("a", 1), ("c", 1), ("t", -1)),
            (("a+", 1), ("c+", 1), ("t+", -1)),
            (("a", 1), ("a+", -1), ("pa", -1)),
            (("c", 1), ("c+", -1), ("pc", -1)),
            (("t", 1), ("t+", -1), ("pt", -1)),
        ],
        published={"pa": 6, "pc": 0, "pt": 6},
        order={"a": 0, "c": 1, "t": 2},
    )
    marks = suppress_system(system, THRESHOLD)
    assert marks["c"] is Mark.primary
    assert marks["a"] is Mark.shown
    assert marks["t"] is Mark.complementary
    hidden = {k for k, m in marks.items() if m is not Mark.shown}
    assert determined(system.equations, hidden) == set()


def test_ages_at_the_submission_day_are_classed() -> None:
    # A table may class ages on the day the form was submitted (age_at: submitted): born in
    # July 2009, a request submitted in March 2027 is 17, one in September 2027 is 18.
    base = demo()
    tables = [
        spec.model_copy(update={"age_at": "submitted"}) if spec.key == "age" else spec
        for spec in base.summary_reports.tables
    ]
    protocol = base.model_copy(
        update={"summary_reports": base.summary_reports.model_copy(update={"tables": tables})}
    )
    young = {"when": "first", "sex": "F", "indication": "IND-1", "birth": "2009-07",
             "weight": "70"}
    drawn = [young] * 6 + [{**young, "when": "second"}] * 7
    computed = compute_report(
        protocol,
        _rows(drawn, {"first", "second"}),
        period_start=FIRST_LOCK + timedelta(days=1),
        data_lock=SECOND_LOCK,
        threshold=THRESHOLD,
    )
    age = next(t for t in computed.tables if t.key == "age" and t.scope == CUMULATIVE)
    rows = dict(zip(age.row_labels, age.rows_text(), strict=True))
    assert rows["0 à moins de 18"] == ["0", "6", "6"]
    assert rows["18 à moins de 65"] == ["0", "7", "7"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 7), st.sampled_from([1, -1, 2])), min_size=1,
                 max_size=5),
        max_size=8,
    ),
    st.sets(st.integers(0, 7)),
)
def test_determined_finds_exactly_the_unknowns_every_solution_fixes(
    rows: list[list[tuple[int, int]]], unknown: set[int]
) -> None:
    equations = [tuple((f"x{k}", c) for k, c in row) for row in rows]
    unknowns = {f"x{k}" for k in unknown}
    names = sorted(unknowns)
    matrix = []
    for eq in equations:
        line = [Fraction(0)] * len(names)
        for key, c in eq:
            if key in unknowns:
                line[names.index(key)] += c
        if any(line):
            matrix.append(line)
    basis = _null_space(matrix, len(names))
    fixed = {name for i, name in enumerate(names) if all(not v[i] for v in basis)}
    assert determined(equations, unknowns) == fixed


def test_an_earlier_hidden_count_exposed_further_away_gets_its_closest_partner() -> None:
    # Earlier, a, b and c were hidden with a + b and a + c shown. Showing b + c (here, d)
    # would give all three; a's own equations hold nothing this report can hide, so the
    # closest count linked to it hides: d, not e (as far, but equal to the shown a + b).
    system = System(
        values={"d": 9, "e": 6},
        equations=[
            (("pa", 1), ("pb", 1), ("pt", -1)),
            (("pa", 1), ("pc", 1), ("pu", -1)),
            (("d", 1), ("pb", -1), ("pc", -1)),
            (("e", 1), ("pt", -1)),
        ],
        published={"pa": None, "pb": None, "pc": None, "pt": 6, "pu": 7},
    )
    assert determined(system.equations, {"pa", "pb", "pc"}) == {"pa", "pb", "pc"}
    marks = suppress_system(system, THRESHOLD)
    assert marks == {"d": Mark.complementary, "e": Mark.shown}
    assert determined(system.equations, {"d", "pa", "pb", "pc"}) == set()
