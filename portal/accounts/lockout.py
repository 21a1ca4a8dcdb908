"""Account lockout schedule of SEC-AUT-5a/5b (CNIL 2022-100 case 2, restriction (a)).

* SEC-AUT-5a: failures 1-4 cause no delay; the 5th consecutive failure locks the account for
  2 minutes; each further consecutive failure doubles the lock (4, 8, 16 ... minutes), capped
  at 24 hours. The lock runs from the time of the failure that caused it.
* SEC-AUT-5b: at most 25 failed attempts in any rolling 24 hours: once 25 failures lie in
  the window, the account stays locked until the oldest of them leaves it.

The caller owns the state (in the database, the source of truth): it resets the consecutive
count after a full success (password + OTP), and it records no failure for an attempt made
while the account is locked, because the password is then not even checked. Counting is keyed
on the submitted login, existing or not (SEC-AUT-3i). All datetimes are timezone-aware.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

FREE_FAILURES = 4
BASE_LOCK = timedelta(minutes=2)
MAX_LOCK = timedelta(hours=24)
WINDOW = timedelta(hours=24)
MAX_FAILURES_IN_WINDOW = 25

# 2 min * 2**10 = 2048 min > 24 h: past this many doublings the cap always applies.
_MAX_DOUBLINGS = 10


def lock_duration(consecutive_failures: int) -> timedelta:
    """Return how long the ``consecutive_failures``-th consecutive failure locks the account."""
    if consecutive_failures < 0:
        raise ValueError("consecutive_failures must be >= 0")
    if consecutive_failures <= FREE_FAILURES:
        return timedelta(0)
    doublings = min(consecutive_failures - FREE_FAILURES - 1, _MAX_DOUBLINGS)
    return min(BASE_LOCK * 2**doublings, MAX_LOCK)


def failures_in_window(failures: Iterable[datetime], now: datetime) -> list[datetime]:
    """Return the failures of the rolling window ending at ``now``, oldest first."""
    _require_aware(now)
    start = now - WINDOW
    kept = []
    for at in failures:
        _require_aware(at)
        if at > start:
            kept.append(at)
    return sorted(kept)


def locked_until(
    consecutive_failures: int,
    recent_failures: Iterable[datetime],
    now: datetime,
) -> datetime | None:
    """Return the end of the lock in force at ``now``, or None when a password may be checked.

    ``recent_failures`` are the failure times of (at least) the last 24 hours, in any order;
    the latest of them is taken as the failure that ended the consecutive run.
    """
    _require_aware(now)
    failures = list(recent_failures)
    for at in failures:
        _require_aware(at)
    ends: list[datetime] = []

    duration = lock_duration(consecutive_failures)
    if duration:
        if not failures:
            raise ValueError("consecutive failures given without their failure times")
        ends.append(max(failures) + duration)

    window = failures_in_window(failures, now)
    if len(window) >= MAX_FAILURES_IN_WINDOW:
        # The count drops below the cap when all but the newest 24 failures have expired.
        ends.append(window[len(window) - MAX_FAILURES_IN_WINDOW] + WINDOW)

    end = max(ends, default=None)
    return end if end is not None and end > now else None


def is_locked(
    consecutive_failures: int, recent_failures: Iterable[datetime], now: datetime
) -> bool:
    """Tell whether a login attempt at ``now`` must be refused without checking the password."""
    return locked_until(consecutive_failures, recent_failures, now) is not None


def _require_aware(at: datetime) -> None:
    """Refuse naive datetimes, whose meaning depends on the server's local time."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
