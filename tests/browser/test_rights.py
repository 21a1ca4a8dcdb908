"""A doctor submits an access request for a patient; the DPO answers; the doctor reads it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.rights.models import RightsRequest
from tests.browser.conftest import log_in
from tests.helpers_auth import TEST_FINESS
from tests.rights.helpers import (
    FOLLOW_UP,
    establishment,
    fill,
    install_protocol,
    make_doctor,
    make_dpo,
    register_patient,
)

pytestmark = pytest.mark.browser





def test_a_doctor_asks_for_access_and_the_dpo_answers(app, db, browser, page,
                                                      live_server) -> None:
    install_protocol(db)
    hospital = establishment(db, TEST_FINESS, "Centre hospitalier Exemple")
    doctor = make_doctor(db, hospital, "dr.martin")
    dpo = make_dpo(db)
    patient = register_patient(db, doctor, hospital)
    fill(db, doctor, patient, "followup", FOLLOW_UP)
    case_number = patient.case_number

    as_doctor = page
    dpo_context = browser.new_context(locale="fr-FR")
    try:
        log_in(as_doctor, live_server, app, doctor)

        # The doctor finds the form from the menu and names the patient by the case number.
        as_doctor.goto(live_server + "/rights/")
        as_doctor.get_by_role("link", name="Submit a rights request").click()
        as_doctor.check("input[name=subject][value=patient]")
        as_doctor.fill("#case_number", case_number.lower())
        as_doctor.check("input[name=kind][value=access]")
        explanation = as_doctor.locator("section[aria-labelledby=not-applicable-title]")
        assert "section 11.3" in explanation.inner_text()
        as_doctor.get_by_role("button", name="Submit the request").click()
        as_doctor.wait_for_url(re.compile(r".*/rights/r/[A-Za-z0-9_-]+$"))
        assert "recorded" in as_doctor.locator(".flash").inner_text()
        assert as_doctor.locator("#request-state").inner_text() == "received"
        request = db.scalar(select(RightsRequest))
        assert request is not None and request.patient_id == patient.id
        number = request.number

        # The DPO sees it on the dashboard, opens it and answers.
        as_dpo = dpo_context.new_page()
        as_dpo.set_default_timeout(10_000)
        log_in(as_dpo, live_server, app, dpo)
        as_dpo.get_by_role("link", name="Requests to handle").click()
        row = as_dpo.locator("#open-requests tr", has_text=number)
        assert "Access to the data" in row.inner_text()
        row.get_by_role("link", name=number).click()
        as_dpo.get_by_role("button", name="Assemble and send the access answer").click()
        as_dpo.wait_for_load_state()
        assert "access answer is ready" in as_dpo.locator(".flash").inner_text()
        assert as_dpo.locator("#request-state").inner_text() == "answered"

        # The doctor reads the answer: every art. 15 heading and the patient's data.
        as_doctor.reload()
        assert as_doctor.locator("#request-state").inner_text() == "answered"
        as_doctor.get_by_role("link", name="Read the access answer (printable)").click()
        as_doctor.wait_for_selector("#copy")
        for article in ("15(1)(a)", "15(1)(b)", "15(1)(c)", "15(1)(d)", "15(1)(e)",
                        "15(1)(f)", "15(1)(g)", "15(1)(h)", "15(2)"):
            assert as_doctor.locator("h2", has_text=article).count() == 1
        copy = as_doctor.locator("#copy").inner_text()
        assert case_number in copy and "DUP-JE" in copy and "40 mg" in copy
        with as_doctor.expect_download() as download:
            as_doctor.get_by_role("link", name="Download this answer as a JSON file").click()
        assert download.value.suggested_filename == f"{number}-access.json"
    finally:
        dpo_context.close()


def test_a_patient_writes_through_the_public_form_in_french(app, db, french_page,
                                                           live_server) -> None:
    dpo = make_dpo(db)
    page = french_page
    page.goto(live_server + "/rights/ask")
    assert "Exercer vos droits sur vos données" in page.locator("h1").inner_text()
    assert "ils sauront que vous avez fait cette demande" in \
        page.locator("#confidentiality").inner_text()
    page.check("input[name=requester_type][value=patient_direct]")
    page.check("input[name=kind][value=access]")
    # A NIR typed in full-width digits is refused, and what was typed stays in the form.
    page.fill("#case_number", "".join(chr(ord(c) + 0xFEE0) for c in "185057800608491"))
    page.fill("#confirmer", "Dr Martin, Centre hospitalier Exemple")
    page.fill("#contact", "p.lambert@example.org")
    page.check("#confidentiality_read")
    page.get_by_role("button", name="Envoyer la demande").click()
    assert "numéro de sécurité sociale" in page.locator(".form-errors").inner_text()
    assert page.input_value("#contact") == "p.lambert@example.org"
    assert db.scalars(select(RightsRequest)).all() == []
    page.fill("#case_number", "")
    page.get_by_role("button", name="Envoyer la demande").click()
    receipt = page.locator("#receipt").inner_text()
    request = db.scalar(select(RightsRequest))
    assert request is not None and request.number in receipt
    assert request.state == "unverified"

    as_dpo = page.context.browser.new_context(locale="en-GB").new_page()
    try:
        log_in(as_dpo, live_server, app, dpo)
        as_dpo.goto(live_server + "/rights/dpo")
        row = as_dpo.locator("#open-requests tr", has_text=request.number)
        assert "unverified" in row.inner_text()
        row.get_by_role("link", name=request.number).click()
        assert "p.lambert@example.org" in as_dpo.locator("#typed-details").inner_text()
    finally:
        as_dpo.context.close()
