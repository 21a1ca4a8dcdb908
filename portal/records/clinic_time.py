"""The day and time zone where the care happens: the portal's, whatever the server's."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from portal import clock


def clinical_zone(session: Session) -> str:
    """Return the time zone where the care happens (the portal's), by its IANA name."""
    from portal.db import app_of

    return app_of(session).config.get("TIMEZONE") or "Europe/Paris"


def clinical_today(session: Session) -> date:
    """Return today's date where the care happens (the portal's time zone)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(clinical_zone(session))  # cached by zoneinfo
    return clock.now().astimezone(zone).date()
