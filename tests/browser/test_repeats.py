"""A repeated section (comorbidities) shows one entry; static/repeats.js adds and removes
entries, and what was added is saved and shown again (issue 13)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.records import submissions
from portal.records.models import Submission
from tests.browser.conftest import log_in
from tests.records import helpers

pytestmark = pytest.mark.browser

ENTRIES = "#sec-comorbidities .pf-entry"


def test_one_entry_shown_then_added_removed_and_saved(app, db, page, live_server) -> None:
    helpers.install_demo(db)
    site = helpers.site(db)
    doctor = helpers.professional(db, "c.martin", site)
    patient = helpers.register(db, doctor, site)
    log_in(page, live_server, app, doctor)
    page.goto(f"{live_server}/patients/{patient.handle}/forms/initiation")
    entries = page.locator(ENTRIES)
    expect(entries).to_have_count(8)
    expect(page.locator(f"{ENTRIES}:visible")).to_have_count(1)
    expect(page.locator("#sec-comorbidities .pf-required")).to_have_count(0)

    add = page.locator("#sec-comorbidities").get_by_role("button", name="Add an entry")
    add.click()
    add.click()
    expect(page.locator(f"{ENTRIES}:visible")).to_have_count(3)
    page.select_option("#s_comorbidities-0-f_comorbidity_pt", "10020772")
    page.select_option("#s_comorbidities-1-f_comorbidity_pt", "10012601")
    page.select_option("#s_comorbidities-2-f_comorbidity_pt", "10003553")
    # Removing an entry empties it: what it held is not sent.
    entries.nth(2).get_by_role("button", name="Remove this entry").click()
    expect(page.locator(f"{ENTRIES}:visible")).to_have_count(2)
    assert page.input_value("#s_comorbidities-2-f_comorbidity_pt") == ""
    for _ in range(6):
        add.click()
    expect(add).to_be_disabled()

    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_url("**/edit")
    draft = db.scalar(select(Submission))
    assert {k: v for k, v in submissions.read_draft(db, doctor, draft).items()
            if k.startswith("s_comorbidities")} == {
        "s_comorbidities-0-f_comorbidity_pt": ["10020772"],
        "s_comorbidities-1-f_comorbidity_pt": ["10012601"]}
    # The draft shows again the two entries in use, and one button to add more.
    expect(page.locator(f"{ENTRIES}:visible")).to_have_count(2)
    expect(page.locator("#s_comorbidities-1-f_comorbidity_pt")).to_have_value("10012601")
