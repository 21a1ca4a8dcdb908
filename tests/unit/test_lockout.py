"""Lockout schedule SEC-AUT-5a (exponential) and 5b (25 failures per rolling 24 h)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.accounts.lockout import (
    MAX_FAILURES_IN_WINDOW,
    failures_in_window,
    is_locked,
    lock_duration,
    locked_until,
)

T0 = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("consecutive", "minutes"),
    [
        (0, 0),
        (1, 0),
        (4, 0),
        (5, 2),
        (6, 4),
        (7, 8),
        (8, 16),
        (13, 512),
        (14, 1024),
        (15, 1440),
        (16, 1440),
        (10_000, 1440),
    ],
)
def test_lock_duration_schedule(consecutive: int, minutes: int) -> None:
    assert lock_duration(consecutive) == timedelta(minutes=minutes)


def test_lock_duration_refuses_negative_counts() -> None:
    with pytest.raises(ValueError):
        lock_duration(-1)


def test_four_failures_do_not_lock() -> None:
    failures = [T0 + i * SEC for i in range(4)]
    assert locked_until(4, failures, T0 + 4 * SEC) is None


def test_fifth_failure_locks_two_minutes() -> None:
    failures = [T0 + i * SEC for i in range(5)]
    last = failures[-1]
    assert locked_until(5, failures, last) == last + 2 * MIN
    assert is_locked(5, failures, last + 119 * SEC)
    assert not is_locked(5, failures, last + 120 * SEC)
    assert not is_locked(5, failures, last + 121 * SEC)


def test_sixth_failure_after_the_lock_doubles_it() -> None:
    failures = [T0 + i * SEC for i in range(5)]
    sixth = failures[-1] + 121 * SEC
    failures.append(sixth)
    assert locked_until(6, failures, sixth) == sixth + 4 * MIN
    assert is_locked(6, failures, sixth + 239 * SEC)
    assert not is_locked(6, failures, sixth + 240 * SEC)


def test_lock_is_capped_at_24_hours() -> None:
    last = T0 + 50 * 24 * 60 * MIN
    assert locked_until(40, [last], last) == last + timedelta(hours=24)


def test_failures_older_than_24_hours_do_not_count_for_the_cap() -> None:
    old = [T0 + i * MIN for i in range(30)]
    now = T0 + timedelta(hours=25)
    assert failures_in_window(old, now) == []
    assert locked_until(0, old, now) is None


def test_25_failures_in_24_hours_lock_until_the_oldest_leaves_the_window() -> None:
    # A user who succeeds after each failure never triggers 5a; 5b still caps the failures.
    failures = [T0 + i * 30 * MIN for i in range(MAX_FAILURES_IN_WINDOW)]
    now = failures[-1] + SEC
    assert locked_until(1, failures, now) == T0 + timedelta(hours=24)
    assert is_locked(1, failures, T0 + timedelta(hours=24) - SEC)
    assert not is_locked(1, failures, T0 + timedelta(hours=24))


def test_24_failures_in_24_hours_do_not_lock() -> None:
    failures = [T0 + i * 30 * MIN for i in range(MAX_FAILURES_IN_WINDOW - 1)]
    assert locked_until(1, failures, failures[-1] + SEC) is None


def test_more_than_25_failures_lock_until_the_count_drops_below_25() -> None:
    # E.g. after an admin unlock: 27 failures; 3 must expire before a new attempt.
    failures = [T0 + i * MIN for i in range(27)]
    now = failures[-1] + SEC
    assert locked_until(0, failures, now) == failures[2] + timedelta(hours=24)


def test_the_longer_of_the_two_locks_applies() -> None:
    failures = [T0 + i * MIN for i in range(25)]
    now = failures[-1]
    # 25 consecutive failures: exponential lock of 24 h from the last failure is longer.
    assert locked_until(25, failures, now) == failures[-1] + timedelta(hours=24)


def test_26th_attempt_within_24_hours_is_refused_without_password_check() -> None:
    """Simulate an attacker who waits out every lock, and a user who logs in every 4 failures."""
    failures: list[datetime] = []
    consecutive = 0
    now = T0
    refused_before_check = 0
    while now < T0 + timedelta(hours=24):
        if is_locked(consecutive, failures, now):
            refused_before_check += 1
        else:
            failures.append(now)
            consecutive += 1
            if consecutive == 4:
                consecutive = 0  # The real user succeeds (password + OTP).
        now += MIN
    assert len(failures) == MAX_FAILURES_IN_WINDOW
    assert refused_before_check > 0
    assert max(failures) < T0 + timedelta(hours=1)


def test_timezone_aware_datetimes_in_other_zones_are_accepted() -> None:
    paris = timezone(timedelta(hours=1))
    failures = [(T0 + i * SEC).astimezone(paris) for i in range(5)]
    assert locked_until(5, failures, T0 + 10 * SEC) == T0 + 4 * SEC + 2 * MIN


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 2, 8, 0, 0)
    with pytest.raises(ValueError):
        locked_until(0, [], naive)
    with pytest.raises(ValueError):
        locked_until(1, [naive], T0)


def test_consecutive_failures_need_their_times() -> None:
    with pytest.raises(ValueError):
        locked_until(5, [], T0)


failure_lists = st.lists(
    st.integers(min_value=0, max_value=48 * 3600).map(lambda s: T0 + timedelta(seconds=s)),
    max_size=60,
)


@settings(max_examples=300)
@given(
    failure_lists,
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=50 * 3600),
    st.randoms(),
)
def test_lock_properties(failures, consecutive, offset, rnd) -> None:
    now = T0 + timedelta(seconds=offset)
    if consecutive > 4 and not failures:
        return
    until = locked_until(consecutive, failures, now)
    # Order of the failures does not matter.
    shuffled = list(failures)
    rnd.shuffle(shuffled)
    assert locked_until(consecutive, shuffled, now) == until
    if until is not None:
        assert until > now
        # No lock outlasts the latest failure by more than 24 h.
        assert until <= max(failures) + timedelta(hours=24)
    if consecutive <= 4 and len(failures_in_window(failures, now)) < MAX_FAILURES_IN_WINDOW:
        assert until is None
