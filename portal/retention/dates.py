"""Calendar arithmetic of the retention rules: whole years, 29 February becoming 28 February."""

from __future__ import annotations

from datetime import date


def add_years(day: date, years: int) -> date:
    """Return the same calendar day `years` later; a 29 February lands on 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)
