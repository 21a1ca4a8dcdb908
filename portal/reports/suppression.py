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
from dataclasses import dataclass
from fractions import Fraction

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
