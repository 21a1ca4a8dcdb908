"""Small-cell suppression: no count 1 to 4 is shown, and no hidden count can be recomputed from
what is shown (checked here by an independent rank argument on the table's equations)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.reports.suppression import Grid, Mark, suppress, with_margins


def _rank(rows: list[list[Fraction]]) -> int:
    rows = [list(r) for r in rows]
    rank, width = 0, len(rows[0]) if rows else 0
    for col in range(width):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(rank + 1, len(rows)):
            factor = rows[i][col] / rows[rank][col]
            rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return rank


def _equations(grid: Grid, hidden: list[tuple[int, int]]) -> list[list[Fraction]]:
    """One row per row/column equation, over the hidden cells (written out independently)."""
    rows, cols = grid.shape
    lines = []
    if grid.total_column and cols >= 2:
        lines += [[(r, c) for c in range(cols)] for r in range(rows)]
    if grid.total_row and rows >= 2:
        lines += [[(r, c) for r in range(rows)] for c in range(cols)]
    return [[Fraction(int(cell in line)) for cell in hidden] for line in lines]


def assert_nothing_derivable(grid: Grid, marks: list[list[Mark]]) -> None:
    hidden = [
        (r, c) for r, row in enumerate(marks) for c, m in enumerate(row) if m is not Mark.shown
    ]
    matrix = _equations(grid, hidden)
    full = _rank(matrix) if hidden else 0
    for k, cell in enumerate(hidden):
        # The cell is determined iff dropping its column lowers the rank (it is then fixed in
        # every solution of the system); otherwise another table fits what is shown.
        without = [row[:k] + row[k + 1 :] for row in matrix]
        assert _rank(without) == full, f"hidden cell {cell} can be recomputed in {grid.values}"
    for row in _equations(grid, hidden):
        assert sum(row) in (0,) or sum(row) >= 2


def shown_values(grid: Grid, marks: list[list[Mark]]) -> list[int]:
    return [
        grid.values[r][c]
        for r, row in enumerate(marks)
        for c, m in enumerate(row)
        if m is Mark.shown
    ]


def test_a_hand_made_table_hides_the_small_cell_and_its_partners() -> None:
    #        F   M  | total
    # <18    3   9  | 12
    # 18-64 10  20  | 30
    # total 13  29  | 42
    grid = with_margins([[3, 9], [10, 20]], total_row=True, total_column=True)
    marks = suppress(grid, 5)
    assert marks[0][0] is Mark.primary
    # 9 hides with the 3 in its row, 10 in its column, and 20 closes the rectangle.
    assert [m is Mark.shown for m in marks[0][:2] + marks[1][:2]] == [False] * 4
    assert [grid.values[2][2], grid.values[0][2], grid.values[2][0]] == [42, 12, 13]
    assert all(m is Mark.shown for m in (marks[2][2], marks[0][2], marks[2][0]))
    assert_nothing_derivable(grid, marks)


def test_a_small_total_is_hidden_too() -> None:
    grid = with_margins([[2], [1], [0]], total_row=True, total_column=False)
    marks = suppress(grid, 5)
    assert marks[3][0] is Mark.primary  # total 3
    assert marks[2][0] is Mark.shown  # a zero
    assert_nothing_derivable(grid, marks)


def test_one_small_cell_in_a_column_hides_a_second_one() -> None:
    grid = with_margins([[12], [3], [40]], total_row=True, total_column=False)
    marks = suppress(grid, 5)
    assert [m for row in marks for m in row] == [
        Mark.complementary,
        Mark.primary,
        Mark.shown,
        Mark.shown,
    ]
    assert_nothing_derivable(grid, marks)


def test_the_threshold_is_a_setting() -> None:
    grid = with_margins([[6], [20]], total_row=True, total_column=False)
    assert all(m is Mark.shown for row in suppress(grid, 5) for m in row)
    assert suppress(grid, 10)[0][0] is Mark.primary


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda rows: st.integers(1, 4).flatmap(
            lambda cols: st.lists(
                st.lists(
                    st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 9, 15, 40]),
                    min_size=cols,
                    max_size=cols,
                ),
                min_size=rows,
                max_size=rows,
            )
        )
    ),
    st.booleans(),
    st.booleans(),
    st.integers(2, 10),
)
def test_no_table_shows_a_small_count_or_lets_one_be_recomputed(
    cells: list[list[int]], total_row: bool, total_column: bool, threshold: int
) -> None:
    grid = with_margins(cells, total_row=total_row, total_column=total_column)
    marks = suppress(grid, threshold)
    assert all(v == 0 or v >= threshold for v in shown_values(grid, marks))
    assert_nothing_derivable(grid, marks)
