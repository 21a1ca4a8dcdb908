"""What a professional sees: a list with one altered patient stays usable, a search by case
number, and a follow-up dated before its window that must be confirmed and shows done early."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.protocols.loader import load_path
from portal.records.models import Patient
from portal.records.schedule import visit_window
from tests.browser.conftest import log_in
from tests.browser.test_records import _fill_protocol_form
from tests.records import helpers

pytestmark = pytest.mark.browser


def test_lists_and_an_early_visit_in_a_browser(app, db, browser, page, live_server) -> None:
    helpers.install_demo(db)
    site = helpers.site(db, helpers.FINESS_A, "Centre hospitalier Alpha")
    doctor = helpers.professional(db, "c.martin", site)
    patient = helpers.register(db, doctor, site, surname_letters="Zqx")
    altered = helpers.register(db, doctor, site, surname_letters="Alt")
    start = helpers.today() - timedelta(days=50)
    helpers.submit(db, doctor, patient, "initiation", helpers.initiation_answers(start))
    identity = bytearray(db.scalar(select(Patient.identity).where(Patient.id == altered.id)))
    identity[20] ^= 0x01
    db.execute(update(Patient).where(Patient.id == altered.id).values(identity=bytes(identity)))
    db.commit()

    # One altered patient: the list still opens, that row says so, the other one works.
    log_in(page, live_server, app, doctor)
    page.goto(live_server + "/patients")
    failed = page.locator("tr.integrity-failed")
    assert altered.case_number in failed.inner_text()
    assert "Integrity check failed" in failed.inner_text()
    assert "On treatment" in page.locator("tr", has_text=patient.case_number).inner_text()

    # A search by case number, typed as people do (lower case, no dash).
    page.fill("#list-q", patient.case_number.lower().replace("-", ""))
    page.get_by_role("button", name="Show").click()
    assert page.locator("tbody tr").count() == 1
    assert patient.case_number not in page.url
    page.get_by_role("link", name=patient.case_number).click()

    # A follow-up M1 dated 12 days before its window opens.
    definition = load_path(helpers.DEMO_PROTOCOL).definition
    _due, window_start, _end = visit_window(definition, start, "M1")
    early = window_start - timedelta(days=12)
    page.get_by_role("link", name=re.compile("F2\\.")).click()
    _fill_protocol_form(page, db, "follow_up", helpers.follow_up_answers("M1", early))
    page.get_by_role("button", name="Submit", exact=True).click()
    warning = page.locator("#window-warning")
    assert "12 days before the window of this visit opens" in warning.inner_text()
    page.check("#confirm_window")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile(r".*/submissions/[A-Za-z0-9_-]+$"))
    assert "Form submitted." in page.locator(".flash").inner_text()
    page.get_by_role("link", name=re.compile(f"Patient {patient.case_number}")).click()
    row = page.locator("table.schedule tr").filter(
        has=page.get_by_role("cell", name="Month 1", exact=True))
    assert f"Done early, on {early.isoformat()}" in row.inner_text()
