"""Record pages show stored times in PORTAL_TIMEZONE with the zone, numbers in the page's
language (French 64,5 kg), and accept a French decimal comma as input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal import clock
from portal.records import submissions
from portal.records.models import Submission
from tests.helpers_auth import login
from tests.records import helpers

TOKEN = re.compile(r'name="token"[^>]*value="([^"]+)"')
#: 13:05 UTC on a winter day is 14:05 in Paris (CET)
WINTER = datetime(2026, 1, 15, 13, 5, tzinfo=UTC)


@pytest.fixture
def winter() -> Iterator[None]:
    """Everything of the test (accounts, grants, records) happens at WINTER."""
    with clock.frozen(WINTER):
        yield


def _page(client, path: str) -> str:  # noqa: ANN001
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_record_pages_show_times_in_the_portal_zone_with_the_zone(
    winter, db, client, prescriber, patient  # noqa: ANN001
) -> None:
    saved = helpers.submit(db, prescriber, patient, "initiation")
    login(client, prescriber)
    for path in (f"/patients/{patient.handle}", f"/submissions/{saved.handle}",
                 f"/submissions/{saved.handle}/history"):
        page = _page(client, path)
        assert "Jan 15, 2026, 2:05\u202fPM CET" in page, path  # CLDR's narrow space
        assert "13:05" not in page and " UTC" not in page, path
    french = _page(client, f"/submissions/{saved.handle}?lang=fr")
    assert "15 janv. 2026, 14:05 CET" in french


def test_the_zone_follows_the_setting(winter, app, db, client, prescriber, patient) -> None:  # noqa: ANN001
    app.config["TIMEZONE"] = "America/New_York"
    saved = helpers.submit(db, prescriber, patient, "initiation")
    login(client, prescriber)
    assert "Jan 15, 2026, 8:05\u202fAM EST" in _page(client, f"/submissions/{saved.handle}")


def test_numbers_are_written_the_way_the_page_language_writes_them(
    db, client, prescriber, patient  # noqa: ANN001
) -> None:
    saved = helpers.submit(db, prescriber, patient, "initiation")  # biomarker 876.4 mg/L
    login(client, prescriber)
    english = _page(client, f"/submissions/{saved.handle}?lang=en")
    french = _page(client, f"/submissions/{saved.handle}?lang=fr")
    assert "876.4 mg/L" in english and "1234.5" in english
    assert "876,4 mg/L" in french and "876.4" not in french
    assert "1234,5" in french  # the dose


def test_a_french_decimal_comma_is_accepted_and_stored_as_the_number(
    db, client, prescriber, patient  # noqa: ANN001
) -> None:
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/initiation?lang=fr"
    token = TOKEN.search(_page(client, path)).group(1)
    data = helpers.form_data(helpers.initiation_answers(), "initiation", db)
    data.update(token=token, action="submit", f_dose_value="64,5", f_baseline_biomarker="12,5")
    response = client.post(path, data=data)
    assert response.status_code == 303
    stored = db.scalar(select(Submission))
    answers = submissions.read_answers(db, prescriber, stored)
    assert answers["dose_value"] == "64.5"
    assert answers["baseline_biomarker"] == "12.5"
    page = _page(client, f"/submissions/{stored.handle}?lang=fr")
    assert "64,5" in page


def test_the_paper_form_writes_its_bounds_in_the_page_language(db, client, prescriber) -> None:  # noqa: ANN001
    login(client, prescriber)
    path = f"/protocols/{helpers.PROTOCOL_KEY}/forms/follow_up/print"
    assert "0,5–250" in _page(client, path + "?lang=fr")  # the weight, in kg
    assert "0.5–250" in _page(client, path + "?lang=en")
