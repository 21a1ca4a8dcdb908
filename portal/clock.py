"""The one source of the current time, so that tests can travel in time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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
    if at.tzinfo is None:
        raise ValueError("the frozen time must be timezone-aware")
    previous = _frozen
    clock = FrozenClock(at.astimezone(UTC))
    _frozen = clock.at
    try:
        yield clock
    finally:
        _frozen = previous


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
