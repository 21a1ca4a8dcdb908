"""MedDRA codes in the pages and the export: refused when not in the release, named when in it."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import func, select

from portal.records.models import Submission
from tests.helpers_auth import login
from tests.records import helpers

TOKEN = re.compile(r'name="token"[^>]*value="([^"]+)"')
NOT_CHECKED = "MedDRA codes are checked for their format (8 digits) only"


def _event_path(patient) -> str:  # noqa: ANN001
    return f"/patients/{patient.handle}/forms/adverse_event"


def _post_event(client, db, patient, code: str):  # noqa: ANN001, ANN202
    path = _event_path(patient)
    page = client.get(path)
    assert page.status_code == 200
    answers = dict(helpers.adverse_event_answers(), meddra_llt_code=code)
    data = helpers.form_data(answers, "adverse_event", db)
    data.update({"token": TOKEN.search(page.get_data(as_text=True)).group(1), "version": "",
                 "action": "submit"})
    return client.post(path, data=data)


def _events(db) -> int:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Submission)
                     .where(Submission.form_key == "adverse_event"))


def test_an_unknown_code_is_refused_in_the_adverse_event_form(db, client, prescriber, patient,
                                                              both_releases) -> None:
    login(client, prescriber)
    assert NOT_CHECKED not in client.get(_event_path(patient)).get_data(as_text=True)
    refused = _post_event(client, db, patient, "90009999")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "90009999 is not a MedDRA LLT of the loaded release (MedDRA 99.0)." in page
    assert 'value="90009999"' in page  # what was typed is shown again
    non_current = _post_event(client, db, patient, "90001002")
    assert non_current.status_code == 422
    assert "90001002 is a non-current MedDRA LLT (MedDRA 99.0): choose a current term." \
        in non_current.get_data(as_text=True)
    assert _events(db) == 0
    accepted = _post_event(client, db, patient, "90001001")
    assert accepted.status_code == 303
    assert _events(db) == 1


def test_the_refusal_is_in_french_on_a_french_page(db, client, prescriber, patient,
                                                   both_releases) -> None:
    login(client, prescriber)
    client.get("/?lang=fr")
    path = _event_path(patient) + "?lang=fr"
    page = client.get(path)
    answers = dict(helpers.adverse_event_answers(), meddra_llt_code="90009999")
    data = helpers.form_data(answers, "adverse_event", db)
    data.update({"token": TOKEN.search(page.get_data(as_text=True)).group(1), "version": "",
                 "action": "submit"})
    refused = client.post(path, data=data)
    assert refused.status_code == 422
    assert ("90009999 n'est pas un LLT de la version de MedDRA chargée (MedDRA 99.0)."
            in refused.get_data(as_text=True).replace("&#39;", "'"))


def test_the_submission_page_shows_the_name_in_its_language(db, client, prescriber, patient,
                                                            both_releases) -> None:
    event = helpers.submit(db, prescriber, patient, "adverse_event",
                           dict(helpers.adverse_event_answers(), meddra_llt_code="90001001"))
    login(client, prescriber)
    english = client.get(f"/submissions/{event.handle}?lang=en").get_data(as_text=True)
    assert "90001001 — Velnor skin eruption" in english
    french = client.get(f"/submissions/{event.handle}?lang=fr").get_data(as_text=True)
    assert "90001001 — Éruption cutanée de Velnor" in french


def test_without_a_release_codes_are_taken_and_pages_say_they_are_not_checked(
        db, client, prescriber, patient) -> None:
    login(client, prescriber)
    assert NOT_CHECKED in client.get(_event_path(patient)).get_data(as_text=True)
    wrong_format = _post_event(client, db, patient, "1850575")
    assert wrong_format.status_code == 422
    assert _post_event(client, db, patient, "18505751").status_code == 303
    event = db.scalar(select(Submission).where(Submission.form_key == "adverse_event"))
    page = client.get(f"/submissions/{event.handle}").get_data(as_text=True)
    assert "18505751 (not checked: no MedDRA release is loaded)" in page


def test_the_export_names_the_code_in_the_exporter_language(db, client, prescriber, patient,
                                                            pharmacovigilance,
                                                            both_releases) -> None:
    helpers.submit(db, prescriber, patient, "adverse_event",
                   dict(helpers.adverse_event_answers(), meddra_llt_code="90002001"))
    login(client, pharmacovigilance)
    rows = {}
    for lang in ("fr", "en"):
        response = client.post(f"/exports?lang={lang}", data={
            "protocol_key": helpers.PROTOCOL_KEY, "form_key": "adverse_event", "fmt": "csv",
            "purpose": "pharmacovigilance"})
        assert response.status_code == 200
        rows[lang] = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows["fr"][0]["meddra_llt_code"] == "90002001"
    assert rows["fr"][0]["meddra_llt_code_label"] == "Crampe de jambe de Lindqvist"
    assert rows["en"][0]["meddra_llt_code_label"] == "Lindqvist leg cramp"


def test_the_history_shows_the_code_and_its_term_before_and_after(db, client, prescriber,
                                                                  patient, both_releases) -> None:
    """Issue 13: the history page named bare codes."""
    from portal.records import submissions

    event = helpers.submit(db, prescriber, patient, "adverse_event",
                           dict(helpers.adverse_event_answers(), meddra_llt_code="90001001"))
    submissions.rectify_with_answers(
        db, prescriber, event, dict(helpers.adverse_event_answers(), meddra_llt_code="90002001"),
        "transcription_error", event.version)
    db.commit()
    login(client, prescriber)
    page = client.get(f"/submissions/{event.handle}/history?lang=en").get_data(as_text=True)
    assert "90001001 — Velnor skin eruption" in page
    assert "90002001 — Lindqvist leg cramp" in page


def _odm(client) -> str:  # noqa: ANN001
    response = client.post("/exports?lang=en", data={
        "protocol_key": helpers.PROTOCOL_KEY, "form_key": "adverse_event", "fmt": "odm",
        "purpose": "pharmacovigilance"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_odm_export_carries_the_term_beside_the_code(db, client, prescriber, patient,
                                                         pharmacovigilance,
                                                         both_releases) -> None:
    """Issue 13: the ODM export held bare codes; a companion item carries the term."""
    helpers.submit(db, prescriber, patient, "adverse_event",
                   dict(helpers.adverse_event_answers(), meddra_llt_code="90002001"))
    login(client, pharmacovigilance)
    odm = _odm(client)
    assert ('<ItemData ItemOID="I.adverse_event.meddra_llt_code" Value="90002001"/>'
            '<ItemData ItemOID="I.adverse_event.meddra_llt_code_term" '
            'Value="Lindqvist leg cramp"/>') in odm
    assert '<ItemDef OID="I.adverse_event.meddra_llt_code_term" Name="meddra_llt_code_term"' \
        in odm
    assert '<ItemRef ItemOID="I.adverse_event.meddra_llt_code_term"' in odm


def test_without_a_release_the_odm_export_has_no_term_item(db, client, prescriber, patient,
                                                           pharmacovigilance) -> None:
    helpers.submit(db, prescriber, patient, "adverse_event",
                   dict(helpers.adverse_event_answers(), meddra_llt_code="18505751"))
    login(client, pharmacovigilance)
    odm = _odm(client)
    assert 'Value="18505751"' in odm and "_term" not in odm
