"""Small-cell suppression of count tables (PUT-12): primary, then complementary.

A count from 1 to threshold-1 is shown as "<threshold" (primary suppression). Complementary
suppression then hides other cells, totals included, until no hidden count can be recomputed
from what is shown: every row and column equation holds 0 or at least 2 hidden cells, and no
combination of the equations isolates a hidden cell (checked on the linear system itself,
`derivable`). Zero is shown: it reveals nobody, and is needed to read the table.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

Cell = tuple[int, int]


class Mark(enum.StrEnum):
    shown = "shown"
    primary = "primary"  # a small count
    complementary = "complementary"  # hidden so that a small count cannot be recomputed


@dataclass(frozen=True)
class Grid:
    """A count table with its margins: `values[r][c]`, where the last row and/or the last column
    are totals when `total_row` / `total_column` are set."""

    values: tuple[tuple[int, ...], ...]
    total_row: bool
    total_column: bool

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.values), len(self.values[0]) if self.values else 0

    def lines(self) -> list[list[Cell]]:
        """Each additive equation as its cells, the total last."""
        rows, cols = self.shape
        found: list[list[Cell]] = []
        if self.total_column and cols >= 2:
            found += [[(r, c) for c in range(cols)] for r in range(rows)]
        if self.total_row and rows >= 2:
            found += [[(r, c) for r in range(rows)] for c in range(cols)]
        return found


def with_margins(cells: Sequence[Sequence[int]], *, total_row: bool, total_column: bool) -> Grid:
    """The grid of `cells` with a total column (each row's sum) and a total row added."""
    rows = [list(row) for row in cells]
    if total_column:
        rows = [[*row, sum(row)] for row in rows]
    if total_row:
        width = len(rows[0]) if rows else 0
        rows.append([sum(row[c] for row in rows) for c in range(width)])
    return Grid(tuple(tuple(row) for row in rows), total_row, total_column)


def derivable(grid: Grid, hidden: Iterable[Cell]) -> set[Cell]:
    """The hidden cells whose value the shown cells and the table's equations determine.

    Unknowns are the hidden cells; each line gives one equation (the hidden cells of the line
    sum to its known part). A hidden cell is determined exactly when its unit vector lies in the
    row space: in the reduced row echelon form, it is a pivot whose row has no other entry.
    """
    index = {cell: k for k, cell in enumerate(sorted(set(hidden)))}
    if not index:
        return set()
    rows: list[list[Fraction]] = []
    for line in grid.lines():
        row = [Fraction(0)] * len(index)
        for cell in line:
            if cell in index:
                row[index[cell]] = Fraction(1)
        if any(row):
            rows.append(row)
    pivots = _rref(rows)
    cells = sorted(index, key=index.get)  # type: ignore[arg-type]
    return {cells[col] for r, col in pivots if sum(1 for value in rows[r] if value) == 1}


def _rref(rows: list[list[Fraction]]) -> list[tuple[int, int]]:
    """Reduce `rows` in place; return (row, pivot column) pairs."""
    pivots: list[tuple[int, int]] = []
    width = len(rows[0]) if rows else 0
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
        pivots.append((r, col))
        r += 1
        if r == len(rows):
            break
    return pivots


def suppress(grid: Grid, threshold: int) -> list[list[Mark]]:
    """Mark each cell of `grid` shown, primary (1 to threshold-1) or complementary."""
    rows, cols = grid.shape
    marks = [[Mark.shown] * cols for _ in range(rows)]
    hidden: set[Cell] = set()
    for r in range(rows):
        for c in range(cols):
            if 0 < grid.values[r][c] < threshold:
                marks[r][c] = Mark.primary
                hidden.add((r, c))
    if not hidden:
        return marks
    lines = grid.lines()

    def hide_partner(line: list[Cell]) -> bool:
        # The smallest other count costs least to hide; inner cells before totals on ties.
        candidates = [
            cell for cell in line if cell not in hidden and grid.values[cell[0]][cell[1]] > 0
        ]
        if not candidates:
            return False
        total = line[-1]
        cell = min(candidates, key=lambda x: (grid.values[x[0]][x[1]], x == total, x))
        hidden.add(cell)
        marks[cell[0]][cell[1]] = Mark.complementary
        return True

    while True:
        changed = False
        for line in lines:
            if sum(1 for cell in line if cell in hidden) == 1:
                changed |= hide_partner(line)
        if changed:
            continue
        exposed = derivable(grid, hidden)
        if not exposed:
            return marks
        # A combination of equations still isolates a cell: widen around it.
        cell = min(exposed)
        if not any(hide_partner(line) for line in lines if cell in line):
            # Nothing left to hide around it: hide the whole table rather than expose it.
            for r in range(rows):
                for c in range(cols):
                    if (r, c) not in hidden and grid.values[r][c] > 0:
                        hidden.add((r, c))
                        marks[r][c] = Mark.complementary
            return marks


# --- Suppression across the tables of a report, and across the reports of a series ----------
#
# A report is one linear system rather than a set of tables: the same count appears in several
# tables (the requests by sex are the column totals of the age classes by sex), and a report's
# cumulative count is the previous report's plus this interval's. Each count is a *quantity*
# with a key naming what it counts; a key shown in one table is shown everywhere, a key hidden
# anywhere is hidden everywhere. What an earlier report published is fixed: its shown counts are
# known to the reader, its hidden ones are unknowns that must stay undetermined too.

Key = str
#: one equation a reader knows: the sum of coefficient x quantity is zero
Equation = tuple[tuple[Key, int], ...]


@dataclass
class System:
    """The quantities to show or hide, and what a reader knows about them."""

    #: the quantities of this report (or view), by key
    values: dict[Key, int]
    #: equations over keys: those of the tables (parts minus total) and those between reports;
    #: a key that is neither in `values` nor in `published` counts as a known zero
    equations: list[Equation]
    #: what an earlier report published, fixed: the count shown, or None when it was hidden
    published: dict[Key, int | None] = field(default_factory=dict)
    #: tie-break among partners of equal count (earlier first): the order of first appearance
    order: dict[Key, int] = field(default_factory=dict)


def determined(equations: Iterable[Equation], unknowns: set[Key]) -> set[Key]:
    """The unknowns whose value the equations fix, everything else being known.

    Sparse Gauss-Jordan elimination, exact: a key is fixed exactly when its unit vector is in
    the row space of the equations restricted to the unknowns, that is when the reduced row
    echelon form has a row holding that key alone. Rows are kept as integers divided by their
    common divisor (no fractions), and each column knows the pivot rows holding it.
    """
    pivots: dict[Key, dict[Key, int]] = {}
    holding: dict[Key, set[Key]] = {}  # column -> the pivots whose row holds it

    def combine(target: dict[Key, int], scale: int, factor: int, source: dict[Key, int]) -> None:
        """target := scale * target - factor * source, then divided by its common divisor."""
        if scale != 1:
            for k in target:
                target[k] *= scale
        for k, v in source.items():
            value = target.get(k, 0) - factor * v
            if value:
                target[k] = value
            else:
                target.pop(k, None)
        divisor = 0
        for v in target.values():
            divisor = gcd(divisor, v)
            if divisor == 1:
                return
        if divisor > 1:
            for k in target:
                target[k] //= divisor

    for equation in equations:
        row: dict[Key, int] = {}
        for key, coefficient in equation:
            if key in unknowns and coefficient:
                row[key] = row.get(key, 0) + coefficient
        row = {k: v for k, v in row.items() if v}
        # Reduce the new row by the pivots found so far (their rows hold no other pivot).
        for key in [k for k in row if k in pivots]:
            factor = row.get(key)
            if factor:
                source = pivots[key]
                combine(row, source[key], factor, source)
        if not row:
            continue
        lead = min(row)
        # Keep the form reduced: the new pivot leaves every other pivot row holding it.
        for other_key in list(holding.get(lead, ())):
            other = pivots[other_key]
            before = set(other)
            combine(other, row[lead], other[lead], row)
            for k in before - set(other):
                holding[k].discard(other_key)
            for k in set(other) - before:
                holding.setdefault(k, set()).add(other_key)
        pivots[lead] = row
        for k in row:
            holding.setdefault(k, set()).add(lead)
    return {key for key, row in pivots.items() if len(row) == 1}


def suppress_system(system: System, threshold: int) -> dict[Key, Mark]:
    """Mark every quantity of `system` shown, primary or complementary, so that no hidden
    quantity (of this report or of the earlier one) is determined by what is shown.

    A zero is shown and never hidden (a row that is absent is a zero too), so a quantity an
    equation ties to known values only cannot be hidden usefully: it is never picked as a
    partner. If a small count is tied that way to what an earlier report showed (the equation
    between reports is exact only without rectifications), hiding more cannot help, and the
    count stays hidden as it is.
    """
    values, published = system.values, system.published
    hidden = {k for k, v in values.items() if 0 < v < threshold}
    primary = set(hidden)
    fixed_hidden = {k for k, v in published.items() if v is None}
    order = system.order
    equations = [eq for eq in system.equations if eq]
    of_key: dict[Key, list[Equation]] = {}
    for eq in equations:
        for key, _c in eq:
            of_key.setdefault(key, []).append(eq)

    def is_unknown(key: Key) -> bool:
        return key in hidden or key in fixed_hidden

    def variable(key: Key) -> bool:
        # Could be unknown to a reader: a non-zero quantity of this report, or a hidden earlier one.
        return (key in values and values[key] > 0) or key in fixed_hidden

    # A quantity one equation ties to known values alone would be recomputed at once if hidden.
    pinned = {
        key
        for key in values
        if any(all(not variable(k) for k, _c in eq if k != key) for eq in of_key.get(key, []))
    }

    def hideable(key: Key) -> bool:
        return key in values and key not in hidden and values[key] > 0 and key not in pinned

    def rank(key: Key, eq: Equation) -> tuple[int, bool, int, Key]:
        total = eq[-1][0] == key
        return values[key], total, order.get(key, len(order)), key

    def hide_partner(eq: Equation) -> bool:
        candidates = [k for k, _c in eq if hideable(k)]
        if not candidates:
            return False
        hidden.add(min(candidates, key=lambda k: rank(k, eq)))
        return True

    def nearest(start: Key) -> Key | None:
        """The hideable count closest to `start` through the equations (the smallest first
        among those at the same distance), or None when none is linked to it."""
        seen, layer = {start}, [start]
        while layer:
            following: list[Key] = []
            for key in layer:
                for eq in of_key.get(key, []):
                    for k, _c in eq:
                        if k not in seen:
                            seen.add(k)
                            following.append(k)
            found = [k for k in following if hideable(k)]
            if found:
                return min(found, key=lambda k: (values[k], order.get(k, len(order)), k))
            layer = following
        return None

    # A small count pinned that way stays hidden as it is: nothing else would protect it.
    unfixable = pinned & hidden
    while True:
        changed = False
        for eq in equations:
            if sum(1 for k, _c in eq if is_unknown(k)) == 1:
                changed |= hide_partner(eq)
        if changed:
            continue
        exposed = determined(equations, hidden | fixed_hidden) - unfixable
        if not exposed:
            break
        cell = min(exposed, key=lambda k: (order.get(k, len(order)), k))
        if any(hide_partner(eq) for eq in of_key.get(cell, [])):
            continue
        # No partner in its own equations: hide the closest count it is linked to.
        partner = nearest(cell)
        if partner is None:
            unfixable.add(cell)
        else:
            hidden.add(partner)
    return {
        key: Mark.primary if key in primary else Mark.complementary if key in hidden else Mark.shown
        for key in values
    }


def grid_equations(grid: Grid, keys: Sequence[Sequence[Key | None]]) -> list[Equation]:
    """The equations of one table over the keys of its cells (cells without a key are known
    zeros)."""
    found: list[Equation] = []
    for line in grid.lines():
        terms = [(keys[r][c], 1) for r, c in line[:-1]]
        r, c = line[-1]
        terms.append((keys[r][c], -1))
        found.append(tuple((k, v) for k, v in terms if k is not None))
    return found
