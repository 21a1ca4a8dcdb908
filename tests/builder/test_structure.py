"""The structured editor: add, reorder, duplicate, remove, edit fields and timepoints; it
edits the very text the text editor shows, and its findings are the linter's."""

from __future__ import annotations

import re

import yaml

from portal.protocols import structure
from portal.protocols.models import ProtocolDraft
from tests.helpers_auth import csrf_token, login

from .test_pages import _page, _revision, _save, _start_current, _text

FIELD = "/builder/drafts/{id}/structure/follow_up/clinical/{key}"


def _structure(client, draft_id: int) -> str:  # noqa: ANN001
    response = client.get(f"/builder/drafts/{draft_id}/structure")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _press(client, draft_id: int, action: str, **extra: str):  # noqa: ANN001, ANN202
    html = _structure(client, draft_id)
    return client.post(f"/builder/drafts/{draft_id}/structure", data={
        "action": action, "revision": _revision(html),
        **csrf_token(client, f"/builder/drafts/{draft_id}/structure"), **extra})


def _clinical_keys(db, draft_id: int) -> list[str]:  # noqa: ANN001
    data = yaml.safe_load(_text(db, draft_id))
    form = next(f for f in data["forms"] if f["key"] == "follow_up")
    section = next(s for s in form["sections"] if s["key"] == "clinical")
    return [f["key"] for f in section["fields"]]


def _edit_field(client, draft_id: int, key: str, **changes: str):  # noqa: ANN001, ANN202
    """Post the field page as the browser would: every input shown, with `changes`."""
    url = FIELD.format(id=draft_id, key=key)
    html = client.get(url).get_data(as_text=True)
    data: dict[str, str] = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        data[name] = value
    for name in re.findall(r'<input[^>]*checked[^>]*name="([^"]+)"', html):
        data[name] = "y"
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>\n?(.*?)</textarea>', html,
                                 re.S):
        data[name] = text
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option selected value="([^"]*)"', body) or \
            re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen[1] if chosen else ""
    data = {k: v.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')
            for k, v in data.items()}
    data.update(changes)
    return client.post(url, data=data)


def test_no_free_text_type_is_offered_nor_accepted(client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    html = _structure(client, draft_id)
    offered = set(re.findall(r'<option value="([a-z_]+)">', html))
    assert "integer" in offered and not offered & {"text", "free_text", "textarea", "notes"}
    before = _text(db, draft_id)
    response = _press(client, draft_id, "field_add|follow_up|clinical",
                      **{"type-follow_up-clinical": "free_text"})
    assert response.status_code == 303
    assert _text(db, draft_id) == before


def test_add_reorder_duplicate_remove_change_the_text(client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    keys = _clinical_keys(db, draft_id)
    _press(client, draft_id, f"field_down|follow_up|clinical|{keys[0]}")
    assert _clinical_keys(db, draft_id)[:2] == [keys[1], keys[0]]
    _press(client, draft_id, f"field_duplicate|follow_up|clinical|{keys[1]}")
    twin = f"{keys[1]}_1"
    assert _clinical_keys(db, draft_id)[:2] == [keys[1], twin]
    _press(client, draft_id, f"field_remove|follow_up|clinical|{twin}")
    _press(client, draft_id, "field_add|follow_up|clinical",
           **{"type-follow_up-clinical": "single_choice"})
    assert _clinical_keys(db, draft_id)[-1] == "new_field_1"
    page = _structure(client, draft_id)
    assert 'id="field-new_field_1"' in page
    # The text editor shows what the structured editor wrote.
    assert "key: new_field_1" in _page(client, draft_id)


def test_a_field_edit_is_in_the_text_and_a_text_edit_in_the_structure(
        client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    response = _edit_field(client, draft_id, "heart_rate", label_fr="Pouls au repos",
                           label_en="Resting pulse", unit="bpm")
    assert response.status_code == 303, response.get_data(as_text=True)
    text = _text(db, draft_id)
    assert "Pouls au repos" in text and "Resting pulse" in text
    assert "Pouls au repos" in _page(client, draft_id)
    # and back: a typed change shows in the structured editor
    html = _page(client, draft_id)
    _save(client, draft_id, text.replace("Resting pulse", "Pulse at rest"), _revision(html))
    page = _structure(client, draft_id)
    assert '<td class="label-en">Pulse at rest</td>' in page
    data = structure.parse(_text(db, draft_id), "d.yaml")
    assert structure.field_of(data, "follow_up", "clinical", "heart_rate")["unit"] == "bpm"


def test_a_finding_appears_beside_its_field_and_disappears_once_fixed(
        client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    _edit_field(client, draft_id, "heart_rate", min="300", max="20")
    row = re.search(r'<tr id="field-heart_rate".*?</tr>', _structure(client, draft_id), re.S)[0]
    assert 'class="has-finding"' in row and "finding" in row
    _edit_field(client, draft_id, "heart_rate", min="20", max="300")
    row = re.search(r'<tr id="field-heart_rate".*?</tr>', _structure(client, draft_id), re.S)[0]
    assert "has-finding" not in row


def test_a_sensitive_category_asks_for_its_justification(client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    before = _text(db, draft_id)
    response = _edit_field(client, draft_id, "heart_rate", category="substance_use",
                           necessity_justification="")
    assert response.status_code == 422
    assert "strictly necessary" in response.get_data(as_text=True) or \
        "strictement nécessaire" in response.get_data(as_text=True)
    assert _text(db, draft_id) == before


def test_identification_items_come_from_the_allowed_list_only(client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    before = _text(db, draft_id)
    response = _edit_field(client, draft_id, "heart_rate", identifies="full_name")
    assert response.status_code == 422
    assert _text(db, draft_id) == before
    html = client.get(FIELD.format(id=draft_id, key="heart_rate")).get_data(as_text=True)
    listed = set(re.findall(r'<option[^>]*value="([a-z_]+)"', html.split('name="identifies"')[1]
                            .split("</select>")[0]))
    assert listed == set(structure.IDENTIFIES)


def test_timepoints_and_windows_are_edited_added_and_removed(client, db, author) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    html = _structure(client, draft_id)
    inputs = dict(re.findall(r'<input name="(tp-[^"]+)" id="[^"]+" value="([^"]*)"', html))
    first = next(iter(inputs)).split("-")[1]
    inputs[f"tp-{first}-window_after_days"] = "9"
    _press(client, draft_id, "timepoints_save", **inputs)
    points = yaml.safe_load(_text(db, draft_id))["schedule"]["timepoints"]
    assert points[0]["window_after_days"] == 9
    _press(client, draft_id, "timepoint_add")
    codes = [p["code"] for p in yaml.safe_load(_text(db, draft_id))["schedule"]["timepoints"]]
    assert codes[-1] == "T1"
    _press(client, draft_id, "timepoint_remove|T1")
    codes = [p["code"] for p in yaml.safe_load(_text(db, draft_id))["schedule"]["timepoints"]]
    assert "T1" not in codes


def test_a_stale_structured_edit_is_a_conflict_not_a_lost_update(
        app, client, db, author, checker) -> None:  # noqa: ANN001
    login(client, author)
    draft_id = _start_current(client)
    stale = _revision(_structure(client, draft_id))
    keys = _clinical_keys(db, draft_id)
    _press(client, draft_id, f"field_down|follow_up|clinical|{keys[0]}")
    after = _text(db, draft_id)
    response = client.post(f"/builder/drafts/{draft_id}/structure", data={
        "action": f"field_remove|follow_up|clinical|{keys[1]}", "revision": stale,
        **csrf_token(client, f"/builder/drafts/{draft_id}/structure")})
    assert response.status_code == 303
    assert _text(db, draft_id) == after
    db.expire_all()
    assert db.get(ProtocolDraft, draft_id).revision == stale + 1
