"""The builder's pages through the Flask test client: start, edit with findings, conflict,
compare, submit, approve by a second manager, versions, preview and paper preview."""

from __future__ import annotations

import io
import re

import yaml
from sqlalchemy import func, select

from portal.protocols.models import ProtocolDraft, ProtocolVersion
from portal.records.models import Submission
from tests.helpers_auth import csrf_token, login
from tests.protocols.support import DATA
from tests.records import helpers


def _start_current(client) -> int:  # noqa: ANN001
    response = client.post("/builder/start", data={
        "origin": "current", "protocol_key": helpers.PROTOCOL_KEY,
        **csrf_token(client, "/builder/")})
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _page(client, draft_id: int) -> str:  # noqa: ANN001
    response = client.get(f"/builder/drafts/{draft_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _revision(html: str) -> int:
    return int(re.search(r'id="revision" name="revision" type="hidden" value="(\d+)"', html)[1])


def _save(client, draft_id: int, text: str, revision: int, **headers: str):  # noqa: ANN001, ANN202
    return client.post(f"/builder/drafts/{draft_id}", data={
        "text": text, "revision": revision,
        **csrf_token(client, f"/builder/drafts/{draft_id}")}, headers=headers)


def _text(db, draft_id: int) -> str:  # noqa: ANN001
    db.expire_all()
    return db.get(ProtocolDraft, draft_id).text


def _edited(text: str, change) -> str:  # noqa: ANN001
    data = yaml.safe_load(text)
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _drop_heart_rate(data: dict) -> None:
    form = next(f for f in data["forms"] if f["key"] == "follow_up")
    section = next(s for s in form["sections"] if s["key"] == "clinical")
    section["fields"] = [f for f in section["fields"] if f["key"] != "heart_rate"]


def test_prescribers_never_see_drafts(client, prescriber, author) -> None:  # noqa: ANN001
    login(client, prescriber)
    assert client.get("/builder/").status_code == 403
    assert client.get("/builder/drafts/1").status_code == 403
    assert client.get("/builder/drafts/1/preview/follow_up").status_code == 403


def test_a_draft_from_the_version_in_force_opens_in_the_editor_without_finding(
        client, author) -> None:  # noqa: ANN001
    login(client, author)
    html = _page(client, _start_current(client))
    assert "Aucun constat" in html or "No finding" in html
    assert 'id="L1"' in html and "schema_version: 1" in html
    assert "editor.js" in html


def test_a_redcap_import_shows_the_fate_of_each_field(client, author) -> None:  # noqa: ANN001
    login(client, author)
    data = (DATA / "redcap" / "followup_ui.csv").read_bytes()
    response = client.post("/builder/start", data={
        "origin": "redcap", "upload": (io.BytesIO(data), "followup_ui.csv"),
        **csrf_token(client, "/builder/")}, content_type="multipart/form-data")
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    row = re.search(r'<tr class="fate-rejected"><td>comments</td>.*?</tr>', html, re.S)
    assert row and "free" in row[0].lower()


def test_an_import_without_a_file_says_so(client, author) -> None:  # noqa: ANN001
    login(client, author)
    response = client.post("/builder/start", data={
        "origin": "odm", **csrf_token(client, "/builder/")})
    assert response.status_code == 422
    assert "fichier" in response.get_data(as_text=True).lower() or \
        "file" in response.get_data(as_text=True).lower()


def test_a_save_shows_each_finding_beside_its_line(client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    html = _page(client, draft_id)
    text = _text(db, draft_id)
    broken = text.replace("type: yes_no", "type: free_text", 1)
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "free_text" in x)) + 1
    response = _save(client, draft_id, broken, _revision(html))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<span id="L{line}" class="marked">{line}</span>' in page
    assert re.search(rf'data-line="{line}"><a href="#L{line}">[^<]*{line}[^<]*</a>'
                     r' · <code>no-free-text</code>', page)
    assert _text(db, draft_id) == broken  # stored as typed


def test_the_autosave_answers_the_findings_as_json(client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    html = _page(client, draft_id)
    broken = _text(db, draft_id).replace("type: yes_no", "type: free_text", 1)
    response = _save(client, draft_id, broken, _revision(html), Accept="application/json")
    assert response.status_code == 200
    data = response.get_json()
    assert data["revision"] == _revision(html) + 1
    assert [f["rule"] for f in data["findings"]] == ["no-free-text"]


def test_two_managers_on_one_draft_the_second_save_is_a_conflict(
        app, client, db, author, checker) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    revision = _revision(_page(client, draft_id))
    other = app.test_client()
    login(other, checker)
    first = _text(db, draft_id).replace("version: ", "version: A", 1)
    assert _save(other, draft_id, first, revision).status_code == 200
    mine = _text(db, draft_id).replace("version: A", "version: B", 1)
    response = _save(client, draft_id, mine, revision)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "v.verif" in page and 'id="stored-text"' in page
    assert _text(db, draft_id) == first  # nothing overwritten
    assert "version: B" in page  # and what I typed is still there


def test_compare_refuses_removing_a_field_with_stored_answers(
        client, db, author, patient, prescriber) -> None:  # noqa: ANN001
    helpers.submit(db, prescriber, patient, "initiation")
    helpers.submit(db, prescriber, patient, "follow_up")
    login(client, author)
    draft_id = _start_current(client)
    revision = _revision(_page(client, draft_id))
    _save(client, draft_id, _edited(_text(db, draft_id), _drop_heart_rate), revision)
    page = client.get(f"/builder/drafts/{draft_id}/compare").get_data(as_text=True)
    assert "follow_up.heart_rate: field removed" in page and 'id="breaks"' in page
    response = client.post(f"/builder/drafts/{draft_id}/submit", data={
        "revision": revision + 1, **csrf_token(client, f"/builder/drafts/{draft_id}")})
    assert response.status_code == 409
    assert "follow_up.heart_rate: field removed (stored submissions use it)" in \
        response.get_data(as_text=True)


def test_maker_checker_then_the_prescriber_fills_the_new_version(
        app, client, db, author, checker, prescriber, patient) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    revision = _revision(_page(client, draft_id))
    text = _edited(_text(db, draft_id), lambda d: d.update(version="2.0"))
    _save(client, draft_id, text, revision)
    response = client.post(f"/builder/drafts/{draft_id}/submit", data={
        "revision": revision + 1, **csrf_token(client, f"/builder/drafts/{draft_id}")})
    assert response.status_code == 303
    page = _page(client, draft_id)
    assert "/approve" not in page  # the author is offered no approval
    response = client.post(f"/builder/drafts/{draft_id}/approve",
                           data=csrf_token(client, f"/builder/drafts/{draft_id}"))
    assert response.status_code == 403
    other = app.test_client()
    login(other, checker)
    assert "/approve" in _page(other, draft_id)
    response = other.post(f"/builder/drafts/{draft_id}/approve",
                          data=csrf_token(other, f"/builder/drafts/{draft_id}"))
    assert response.status_code == 303
    versions = other.get(response.headers["Location"]).get_data(as_text=True)
    assert "a.auteur" in versions and "v.verif" in versions
    current = db.scalar(select(ProtocolVersion).where(ProtocolVersion.is_current.is_(True)))
    assert current.version_label == "2.0"
    prescribing = app.test_client()
    login(prescribing, prescriber)
    form = prescribing.get(f"/patients/{patient.handle}/forms/follow_up")
    assert "2.0" in form.get_data(as_text=True)


def test_a_refusal_shows_why_and_the_author_edits_again(app, client, db, author, checker) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    revision = _revision(_page(client, draft_id))
    _save(client, draft_id, _edited(_text(db, draft_id), lambda d: d.update(version="2.1")),
          revision)
    client.post(f"/builder/drafts/{draft_id}/submit", data={
        "revision": revision + 1, **csrf_token(client, f"/builder/drafts/{draft_id}")})
    other = app.test_client()
    login(other, checker)
    empty = other.post(f"/builder/drafts/{draft_id}/refuse", data={
        "reason": "", **csrf_token(other, f"/builder/drafts/{draft_id}")})
    assert empty.status_code == 422
    other.post(f"/builder/drafts/{draft_id}/refuse", data={
        "reason": "Les libellés anglais manquent",
        **csrf_token(other, f"/builder/drafts/{draft_id}")})
    page = _page(client, draft_id)
    assert "Les libellés anglais manquent" in page and "v.verif" in page
    client.post(f"/builder/drafts/{draft_id}/reopen",
                data=csrf_token(client, f"/builder/drafts/{draft_id}"))
    assert 'id="text-form"' in _page(client, draft_id)


def test_the_preview_shows_the_form_in_both_languages_and_stores_nothing(
        client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    french = client.get(f"/builder/drafts/{draft_id}/preview/follow_up?lang=fr")
    english = client.get(f"/builder/drafts/{draft_id}/preview/follow_up?lang=en")
    assert french.status_code == english.status_code == 200
    fr_html, en_html = french.get_data(as_text=True), english.get_data(as_text=True)
    assert "conditions.js" in fr_html and "data-show-if" in fr_html
    assert "Date de la visite" in fr_html and "Visit date" in en_html
    before = db.scalar(select(func.count()).select_from(Submission))
    tried = client.post(f"/builder/drafts/{draft_id}/preview/follow_up?lang=en", data={
        "f_weight_kg": "9999", **csrf_token(client,
                                            f"/builder/drafts/{draft_id}/preview/follow_up")})
    assert tried.status_code == 422
    html = tried.get_data(as_text=True)
    assert 'id="preview-result"' in html and "This field is required." in html
    assert db.scalar(select(func.count()).select_from(Submission)) == before


def test_the_paper_preview_is_the_print_page_of_the_draft(client, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    page = client.get(f"/builder/drafts/{draft_id}/paper/follow_up?lang=fr")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="paper-form"' in html and 'id="preview-banner"' in html
    assert client.get(f"/builder/drafts/{draft_id}/paper/nope").status_code == 404
