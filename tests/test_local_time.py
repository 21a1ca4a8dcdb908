"""One filter shows stored times: in PORTAL_TIMEZONE, in the page's language, with the zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from portal.config import PROJECT_ROOT
from portal.i18n import local_number, local_time

SUMMER = datetime(2026, 7, 3, 13, 5, 7, tzinfo=UTC)
WINTER = datetime(2026, 12, 3, 13, 5, 7, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "style", "language", "shown"), [
    (WINTER, "datetime", "fr", "3 déc. 2026, 14:05 CET"),
    (SUMMER, "datetime", "fr", "3 juil. 2026, 15:05 CEST"),
    (WINTER, "datetime", "en", "Dec 3, 2026, 2:05\u202fPM CET"),
    (WINTER, "seconds", "fr", "3 déc. 2026, 14:05:07 CET"),
    (WINTER, "date", "fr", "3 déc. 2026"),
    (WINTER, "long_date", "en", "December 3, 2026"),
    # 23:30 UTC is already the next day in Paris
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "date", "en", "Jan 1, 2027"),
    (date(2026, 12, 31), "long_date", "fr", "31 décembre 2026"),
    (None, "datetime", "fr", ""),
])
def test_local_time(app, moment, style: str, language: str, shown: str) -> None:  # noqa: ANN001
    with app.app_context():
        assert local_time(moment, style, language) == shown


def test_local_time_follows_the_setting_and_the_page_language(app) -> None:  # noqa: ANN001
    app.config["TIMEZONE"] = "Asia/Tokyo"
    with app.test_request_context("/?lang=fr"):
        assert local_time(WINTER) == "3 déc. 2026, 22:05 JST"


@pytest.mark.parametrize(("value", "french", "english"), [
    ("64.5", "64,5", "64.5"),
    ("64.50", "64,50", "64.50"),  # every stored digit is kept
    ("1234.5", "1234,5", "1234.5"),
    ("-0.001", "-0,001", "-0.001"),
    ("0.123456789012", "0,123456789012", "0.123456789012"),
    (12, "12", "12"),
    ("not a number", "not a number", "not a number"),
])
def test_local_number(value: object, french: str, english: str) -> None:
    assert local_number(value, "fr") == french
    assert local_number(value, "en") == english


#: a stored time written out by hand in a template, not through local_time
HAND_MADE = re.compile(r"\.strftime\(|_at\.isoformat\(\)|\bUTC\b|\|\s*(rights_date|rights_datetime"
                       r"|audit_local_time|notice_date|notice_datetime)\b|\blocal\(")


def test_every_template_shows_stored_times_through_local_time() -> None:
    offenders = []
    for path in sorted((PROJECT_ROOT / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            # <time datetime="..."> carries the machine-readable time beside the shown one
            if HAND_MADE.search(line.replace('datetime="{{ entry.at.isoformat() }}"', "")):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert offenders == []
