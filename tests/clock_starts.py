"""The date every test starts on: one ordinary day, or one of the awkward days.

No test may depend on today's date. Every test runs on `portal.clock` started at `START` (the clock
then runs at its normal pace); `PORTAL_TEST_START` picks another start, by name from `AWKWARD` or as
an ISO 8601 time with its offset. `.ci/run` runs the date-sensitive areas on one awkward day picked
at random each run and prints which.

Fixtures shared by a module or by the whole session are set up earlier on the same clock
(`MODULE_LEAD`, `SESSION_LEAD` before the start), so that what they create already exists,
and is already valid, when each test starts.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

PARIS = ZoneInfo("Europe/Paris")
MODULE_LEAD = timedelta(hours=1)
SESSION_LEAD = timedelta(days=1)

#: an unremarkable Wednesday morning
ORDINARY = datetime(2027, 6, 16, 10, 0, tzinfo=PARIS)

AWKWARD: dict[str, datetime] = {
    # the last day of a 31-day month: "one month later" has no 31st
    "jan-31": datetime(2027, 1, 31, 10, 0, tzinfo=PARIS),
    # a leap day: a year later there is no 29 February
    "feb-29": datetime(2028, 2, 29, 10, 0, tzinfo=PARIS),
    # half an hour before the new year in Paris, already the 31st at 22:30 in UTC
    "dec-31-late": datetime(2026, 12, 31, 23, 30, tzinfo=PARIS),
    # half an hour before the clocks go forward (02:00 CET becomes 03:00 CEST)
    "dst-spring": datetime(2027, 3, 28, 1, 30, tzinfo=PARIS),
    # inside the hour that happens twice when the clocks go back (first pass, CEST)
    "dst-autumn": datetime(2027, 10, 31, 2, 30, fold=0, tzinfo=PARIS),
}


def start_from_environment() -> tuple[str, datetime]:
    """Return the name and time of the start the environment asks for (ORDINARY by default)."""
    wanted = os.environ.get("PORTAL_TEST_START", "").strip()
    if not wanted:
        return "ordinary", ORDINARY
    if wanted in AWKWARD:
        return wanted, AWKWARD[wanted]
    try:
        parsed = datetime.fromisoformat(wanted)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        names = ", ".join(AWKWARD)
        raise SystemExit(
            f"PORTAL_TEST_START={wanted!r}: give one of {names}, or an ISO time with its offset"
        )
    return wanted, parsed


START_NAME, START = start_from_environment()
#: the same instant in UTC, as the portal stores and computes times
START_UTC = START.astimezone(UTC)


def long_date(moment: datetime, lang: str) -> str:
    """The day of `moment` in Paris as pages write it in full ("12 mars 2027", "March 12, 2027")."""
    return format_date(moment.astimezone(PARIS).date(), format="long", locale=lang)


def medium_date(moment: datetime, lang: str) -> str:
    """The day of `moment` in Paris as tables write it ("12 mars 2027", "Mar 12, 2027")."""
    return format_date(moment.astimezone(PARIS).date(), format="medium", locale=lang)
