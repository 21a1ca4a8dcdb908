"""GDPR art. 12(3) deadline engine for rights requests (RGT-02), as pure functions.

* The answer is due one month after receipt; when the month has no such day, its last day
  (31 January -> 28 or 29 February, the EDPB reading).
* The clock is suspended while identity information is awaited (art. 12(6) and the French
  décret): the suspended days are added to the due date.
* The deadline may be extended by up to two further months (received + 3 months) only if the
  extension notice, with reasons, is recorded no later than the original due date.
* Alerts: due within 7 days is "due_soon"; reminders fire at D-7 and D-2.

Dates are calendar dates; datetimes given to these functions must be timezone-aware and are
read in UTC.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

BASE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2
DUE_SOON_DAYS = 7
ALERT_DAYS_BEFORE = (7, 2)


class Urgency(StrEnum):
    """How close a request is to its due date."""

    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    OK = "ok"


def add_months(d: date, n: int) -> date:
    """Return ``d`` plus ``n`` calendar months, clamped to the last day of the target month."""
    month_index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(month_index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last_day))


def due_date(received: date, suspended_days: int = 0, extension_months: int = 0) -> date:
    """Return the due date: received + (1 + extension) months, then + suspended days."""
    if suspended_days < 0:
        raise ValueError("suspended_days must be >= 0")
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"extension_months must be between 0 and {MAX_EXTENSION_MONTHS}")
    # Months are added to the receipt date in one go: 31 Jan + 3 months is 30 Apr, not 28 Apr.
    return add_months(_as_date(received), BASE_MONTHS + extension_months) + timedelta(
        days=suspended_days
    )


def suspended_days(
    intervals: Iterable[tuple[date | datetime, date | datetime | None]],
    as_of: date | datetime | None = None,
) -> int:
    """Return the days the clock was stopped, from identity-pending (start, end) intervals.

    The clock stops on the start day and runs again on the end day, so an interval counts
    ``(end - start).days`` days; overlapping intervals are counted once. An interval still
    open (end None) runs until ``as_of``, which is then required.
    """
    spans: list[tuple[date, date]] = []
    for start, end in intervals:
        if end is None:
            if as_of is None:
                raise ValueError("as_of is required while an interval is still open")
            end = as_of
        start_day, end_day = _as_date(start), _as_date(end)
        if end_day < start_day:
            raise ValueError("an interval ends before it starts")
        spans.append((start_day, end_day))
    total = 0
    current_start: date | None = None
    current_end: date | None = None
    for start_day, end_day in sorted(spans):
        if current_end is None or start_day > current_end:
            if current_start is not None and current_end is not None:
                total += (current_end - current_start).days
            current_start, current_end = start_day, end_day
        else:
            current_end = max(current_end, end_day)
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).days
    return total


def can_extend(now: date | datetime, original_due: date) -> bool:
    """Tell whether an extension notice recorded at ``now`` is in time (by the due date)."""
    return _as_date(now) <= original_due


def urgency(due: date, today: date | datetime) -> Urgency:
    """Return "overdue" after the due date, "due_soon" within 7 days of it, else "ok"."""
    remaining = (due - _as_date(today)).days
    if remaining < 0:
        return Urgency.OVERDUE
    if remaining <= DUE_SOON_DAYS:
        return Urgency.DUE_SOON
    return Urgency.OK


def is_alert_day(due: date, today: date | datetime) -> bool:
    """Tell whether ``today`` is a reminder day (D-7 or D-2) for a request due on ``due``."""
    return (due - _as_date(today)).days in ALERT_DAYS_BEFORE


def _as_date(value: date | datetime) -> date:
    """Return the UTC calendar date of a date or an aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetimes must be timezone-aware (UTC)")
        return value.astimezone(UTC).date()
    return value
