"""Drafts are checked like submissions (incomplete, never ill-typed), and nothing a person types
is cut short: too long is refused with the limit named (issues 26 and 13)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.records import submissions
from portal.records.models import Submission
from tests.helpers_auth import login
from tests.records import helpers

TOKEN = re.compile(r'name="token"[^>]*value="([^"]+)"')


def _count(db) -> int:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Submission))


def _post(client, path: str, data: dict) -> tuple[int, str]:  # noqa: ANN001
    page = client.get(path).get_data(as_text=True)
    data = {"token": TOKEN.search(page).group(1), **data}
    response = client.post(path, data=data)
    return response.status_code, response.get_data(as_text=True)


def test_a_draft_with_text_in_a_number_is_refused_and_nothing_stored(db, client, prescriber,
                                                                     patient):
    login(client, prescriber)
    status, page = _post(client, f"/patients/{patient.handle}/forms/follow_up",
                         {"action": "draft", "f_weight_kg": "seventy-two", "f_height_cm": "171",
                          "f_visit_timepoint": "M1"})
    assert status == 422
    assert "The draft was not saved: correct the values marked below." in page
    assert re.search(r'id="f_weight_kg"[^>]*value="seventy-two" aria-invalid="true"', page)
    assert "Enter a number." in page
    assert 'value="171"' in page  # the rest of the input is kept on the page
    assert _count(db) == 0


def test_the_draft_service_refuses_ill_typed_inputs_whoever_calls(db, prescriber, patient):
    ref = submissions.current_form(db, patient, "follow_up")
    with pytest.raises(submissions.InvalidDraft) as refused:
        submissions.save_draft(db, prescriber, patient, ref,
                               {"f_weight_kg": ["heavy"], "f_ecog": ["9"],
                                "s_concomitant-0-f_cm_atc": ["NOT-A-CODE"]},
                               submissions.new_token())
    assert refused.value.errors == {
        "f_weight_kg": ["Enter a number."],
        "f_ecog": ["Choose one of the listed answers."],
        "s_concomitant-0-f_cm_atc": ["Choose one of the listed answers."],
    }
    db.rollback()
    assert _count(db) == 0


def test_a_draft_keeps_values_as_the_form_reads_them(db, client, prescriber, patient):
    login(client, prescriber)
    status, _page = _post(client, f"/patients/{patient.handle}/forms/follow_up", {
        "action": "draft", "f_height_cm": "\u0661\u0667\u0661", "f_weight_kg": "72,5",
        "f_visit_timepoint": "M1", "f_not_an_input": "x"})
    assert status == 303
    draft = db.scalar(select(Submission))
    assert submissions.read_draft(db, prescriber, draft) == {
        "f_height_cm": ["171"], "f_weight_kg": ["72.5"], "f_visit_timepoint": ["M1"]}


def test_a_draft_checks_static_bounds_but_not_what_is_missing(db, prescriber, patient):
    ref = submissions.current_form(db, patient, "follow_up")
    with pytest.raises(submissions.InvalidDraft) as refused:
        submissions.save_draft(db, prescriber, patient, ref, {"f_weight_kg": ["9999"]},
                               submissions.new_token())
    assert refused.value.errors == {"f_weight_kg": ["Enter a number between 0.5 and 250."]}
    db.rollback()
    saved = submissions.save_draft(db, prescriber, patient, ref, {"f_weight_kg": ["80"]},
                                   submissions.new_token())
    assert submissions.read_draft(db, prescriber, saved) == {"f_weight_kg": ["80.0"]}


def test_a_long_value_is_never_cut_short_in_a_draft(db, client, prescriber, patient):
    """The old drafts kept the first 200 characters of any input, silently."""
    login(client, prescriber)
    typed = "AAC-2024-" + "1" * 300
    status, page = _post(client, f"/patients/{patient.handle}/forms/access",
                         {"action": "draft", "f_aac_ansm_ref": typed})
    assert status == 422
    assert "Enter at most 15 characters." in page
    assert f'value="{typed}"' in page  # shown again whole
    assert _count(db) == 0


def test_a_nir_in_the_meddra_code_arrives_whole_and_is_refused(db, client, prescriber,
                                                              patient):
    """An 8-digit input no longer cuts a pasted 15-digit NIR down to 8 valid digits."""
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/adverse_event"
    page = client.get(path).get_data(as_text=True)
    code_input = re.search(r'<input[^>]*name="f_meddra_llt_code"[^>]*>', page).group(0)
    assert "maxlength" not in code_input
    data = helpers.form_data(helpers.adverse_event_answers(), "adverse_event", db)
    data.update(f_meddra_llt_code="185057800608491", action="submit")
    status, page = _post(client, path, data)
    assert status == 422
    assert "social security number" in page
    # Too long without being a NIR: refused, the limit named.
    data.update(f_meddra_llt_code="100192110")
    status, page = _post(client, path, data)
    assert status == 422
    assert "Enter at most 8 characters." in page
    assert 'value="100192110"' in page
    assert _count(db) == 0


def test_the_registration_inputs_do_not_cut_what_is_typed(client, prescriber, site_a):
    login(client, prescriber)
    page = client.get("/patients/new").get_data(as_text=True)
    assert "maxlength" not in page
    response = client.post("/patients/new", data={
        "surname_letters": "Z" * 41, "first_name_letters": "Wk", "sex": "F",
        "birth_month": "4", "birth_year": "1961", "establishment_id": str(site_a.id),
        "protocol_key": helpers.PROTOCOL_KEY})
    assert response.status_code == 422
    assert "Enter at most 40 characters." in response.get_data(as_text=True)


def test_the_required_mark_is_translated_on_french_pages(client, prescriber, patient):
    login(client, prescriber)
    page = client.get(f"/patients/{patient.handle}/forms/access?lang=fr").get_data(as_text=True)
    assert 'class="pf-required" title="obligatoire"' in page
    assert 'title="required"' not in page
