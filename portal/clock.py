"""The one source of the current time, so that tests can travel in time.

Two ways to move it, both for tests: `frozen(at)` stops the clock at `at`; `running_from(at)`
lets it run at its normal pace from `at`. The test suite starts every test on a running clock
pinned to a chosen start (see tests/conftest.py), so that no test depends on today's date.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

#: the environment variable through which a test hands its clock to a server it starts
TEST_START_VARIABLE = "PORTAL_TEST_CLOCK_START"

_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[FrozenClock]:
    """Freeze the clock at `at` (aware) for the duration of the block."""
    global _frozen
    previous = _frozen
    clock = FrozenClock(_aware(at))
    _frozen = clock.at
    try:
        yield clock
    finally:
        _frozen = previous


@contextlib.contextmanager
def running_from(at: datetime) -> Iterator[None]:
    """Let the clock run from `at` (aware) for the duration of the block."""
    global _offset
    previous = _offset
    _offset = _aware(at) - datetime.now(UTC)
    try:
        yield
    finally:
        _offset = previous


def follow_test_start(env: Mapping[str, str], environment: str) -> None:
    """In a testing server process, run the clock from the start its test handed it.

    A test that starts gunicorn passes its own clock's time in `PORTAL_TEST_CLOCK_START`, so that
    the server and the state the test created agree on the date. Any other environment ignores
    it: a production or development clock is never moved.
    """
    global _offset
    value = env.get(TEST_START_VARIABLE, "")
    if environment != "testing" or not value:
        return
    _offset = _aware(datetime.fromisoformat(value)) - datetime.now(UTC)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the clock's time must be timezone-aware")
    return at.astimezone(UTC)


class FrozenClock:
    """A handle on a frozen clock that can be moved forward."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def tick(self, delta: timedelta) -> datetime:
        """Move the frozen clock by `delta` and return the new time."""
        global _frozen
        self.at = self.at + delta
        _frozen = self.at
        return self.at
