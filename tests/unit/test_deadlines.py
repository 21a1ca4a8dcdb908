"""GDPR art. 12(3) deadline engine (RGT-02)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.rights.deadlines import (
    Urgency,
    add_months,
    can_extend,
    due_date,
    is_alert_day,
    suspended_days,
    urgency,
)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # Leap year.
        (date(2100, 1, 31), 1, date(2100, 2, 28)),  # Not a leap year (century).
        (date(2000, 1, 31), 1, date(2000, 2, 29)),  # Leap year (400).
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 1, 15), 1, date(2026, 2, 15)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 10), -1, date(2025, 12, 10)),
        (date(2026, 5, 17), 0, date(2026, 5, 17)),
    ],
)
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@settings(max_examples=500)
@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    st.integers(min_value=-120, max_value=120),
)
def test_add_months_properties(start: date, months: int) -> None:
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    last_day = calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(start.day, last_day)
    if start.day <= 28:
        assert add_months(result, -months) == start


def test_received_31_january_is_due_end_of_february() -> None:
    assert due_date(date(2026, 1, 31)) == date(2026, 2, 28)
    assert due_date(date(2028, 1, 31)) == date(2028, 2, 29)


def test_suspension_shifts_the_due_date_by_its_days() -> None:
    assert due_date(date(2026, 3, 10), suspended_days=10) == date(2026, 4, 20)
    assert due_date(date(2026, 1, 31), suspended_days=10) == date(2026, 3, 10)


def test_extension_counts_months_from_receipt() -> None:
    assert due_date(date(2026, 1, 31), extension_months=2) == date(2026, 4, 30)
    assert due_date(date(2026, 1, 31), extension_months=1) == date(2026, 3, 31)
    assert due_date(date(2026, 1, 31), suspended_days=5, extension_months=2) == date(2026, 5, 5)


@pytest.mark.parametrize(("suspended", "extension"), [(-1, 0), (0, -1), (0, 3)])
def test_due_date_refuses_out_of_range_arguments(suspended: int, extension: int) -> None:
    with pytest.raises(ValueError):
        due_date(date(2026, 1, 1), suspended_days=suspended, extension_months=extension)


# --- Suspension -------------------------------------------------------------------------------


def test_one_identity_pending_interval() -> None:
    assert suspended_days([(date(2026, 3, 1), date(2026, 3, 11))]) == 10


def test_overlapping_and_adjacent_intervals_count_once() -> None:
    intervals = [
        (date(2026, 3, 1), date(2026, 3, 11)),
        (date(2026, 3, 5), date(2026, 3, 15)),  # Overlaps: 1..15 = 14 days.
        (date(2026, 3, 15), date(2026, 3, 16)),  # Adjacent: +1.
        (date(2026, 4, 1), date(2026, 4, 3)),  # Separate: +2.
    ]
    assert suspended_days(intervals) == 17
    assert suspended_days(reversed(intervals)) == 17


def test_open_interval_runs_until_as_of() -> None:
    intervals = [(date(2026, 3, 1), date(2026, 3, 3)), (date(2026, 3, 10), None)]
    assert suspended_days(intervals, as_of=date(2026, 3, 14)) == 6
    with pytest.raises(ValueError):
        suspended_days(intervals)


def test_interval_datetimes_are_read_as_utc_dates() -> None:
    paris = timezone(timedelta(hours=1))
    start = datetime(2026, 3, 1, 0, 30, tzinfo=paris)  # 28 Feb 23:30 UTC.
    end = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    assert suspended_days([(start, end)]) == 4
    with pytest.raises(ValueError):
        suspended_days([(datetime(2026, 3, 1), end)])


def test_interval_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        suspended_days([(date(2026, 3, 5), date(2026, 3, 1))])


def test_no_interval_means_no_suspension() -> None:
    assert suspended_days([]) == 0


day_offsets = st.tuples(st.integers(0, 200), st.integers(0, 60))


@settings(max_examples=300)
@given(st.lists(day_offsets, max_size=8))
def test_suspension_equals_the_union_of_suspended_days(spans: list[tuple[int, int]]) -> None:
    base = date(2026, 1, 1)
    intervals = [(base + timedelta(s), base + timedelta(s + n)) for s, n in spans]
    covered = {s + i for s, n in spans for i in range(n)}
    assert suspended_days(intervals) == len(covered)


# --- Extension, urgency -----------------------------------------------------------------------


def test_extension_is_recorded_only_until_the_original_due_date() -> None:
    due = date(2026, 2, 28)
    assert can_extend(date(2026, 2, 10), due)
    assert can_extend(date(2026, 2, 28), due)
    assert not can_extend(date(2026, 3, 1), due)
    assert can_extend(datetime(2026, 2, 28, 23, 59, tzinfo=UTC), due)
    assert not can_extend(datetime(2026, 3, 1, 0, 0, tzinfo=UTC), due)
    with pytest.raises(ValueError):
        can_extend(datetime(2026, 2, 1, 12, 0), due)


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [
        (-30, "overdue"),
        (-1, "overdue"),
        (0, "due_soon"),
        (2, "due_soon"),
        (7, "due_soon"),
        (8, "ok"),
        (40, "ok"),
    ],
)
def test_urgency(days_left: int, expected: str) -> None:
    due = date(2026, 6, 15)
    result = urgency(due, due - timedelta(days=days_left))
    assert result == expected
    assert isinstance(result, Urgency)


def test_urgency_accepts_an_aware_datetime() -> None:
    assert urgency(date(2026, 6, 15), datetime(2026, 6, 16, 0, 1, tzinfo=UTC)) == "overdue"


@pytest.mark.parametrize(
    ("days_left", "alert"), [(8, False), (7, True), (3, False), (2, True), (0, False), (-1, False)]
)
def test_alerts_fire_at_d_minus_7_and_d_minus_2(days_left: int, alert: bool) -> None:
    due = date(2026, 6, 15)
    assert is_alert_day(due, due - timedelta(days=days_left)) is alert
