"""The clock every test runs on, and the clock a test hands to a server it starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal import clock
from tests.clock_starts import AWKWARD, PARIS, START


def test_every_test_starts_on_the_chosen_date_not_today(test_clock) -> None:
    # The suite's start, running: a few minutes at most have passed since the fixture began.
    # (Compared in UTC: Python never finds a time in Paris's repeated autumn hour equal to a
    # time in another zone, PEP 495.)
    assert test_clock == START.astimezone(UTC)
    assert timedelta(0) <= clock.now() - START < timedelta(minutes=10)


def test_a_running_clock_moves_at_the_normal_pace() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    with clock.running_from(at):
        first = clock.now()
        second = clock.now()
    assert at <= first <= second < at + timedelta(seconds=5)
    # Leaving the block gives back the suite's clock.
    assert clock.now() - START < timedelta(minutes=10)


def test_a_frozen_clock_inside_a_running_one_stays_put_and_ticks() -> None:
    at = datetime(2031, 5, 1, 12, tzinfo=UTC)
    with clock.frozen(at) as frozen:
        assert clock.now() == at
        assert frozen.tick(timedelta(hours=1)) == clock.now() == at + timedelta(hours=1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        with clock.frozen(datetime(2030, 1, 1)):
            pass
    with pytest.raises(ValueError, match="timezone-aware"):
        with clock.running_from(datetime(2030, 1, 1)):
            pass


def test_only_a_testing_process_follows_the_start_a_test_hands_it() -> None:
    handed = {clock.TEST_START_VARIABLE: "2029-07-01T08:00:00+00:00"}
    with clock.running_from(START):
        for environment in ("production", "development"):
            clock.follow_test_start(handed, environment)
            assert clock.now() - START < timedelta(minutes=10)
        clock.follow_test_start(handed, "testing")
        assert timedelta(0) <= clock.now() - datetime(2029, 7, 1, 8, tzinfo=UTC) < timedelta(
            seconds=5)


def test_the_awkward_days_are_what_their_names_say() -> None:
    assert AWKWARD["feb-29"].date().isoformat().endswith("02-29")
    late = AWKWARD["dec-31-late"]
    assert (late.month, late.day, late.hour, late.minute) == (12, 31, 23, 30)
    spring, autumn = AWKWARD["dst-spring"], AWKWARD["dst-autumn"]
    # Daylight-saving changes in Paris that day: one hour shorter, one hour longer.
    for day, length in ((spring, 23), (autumn, 25)):
        midnight = datetime(day.year, day.month, day.day, tzinfo=PARIS)
        following = day.date() + timedelta(days=1)
        next_midnight = datetime(following.year, following.month, following.day, tzinfo=PARIS)
        hours = (next_midnight.astimezone(UTC) - midnight.astimezone(UTC)) / timedelta(hours=1)
        assert hours == length
