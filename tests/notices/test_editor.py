"""The DPO's editor through the real pages: write, save, publish, see what changed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from portal.notices import services
from portal.notices.catalog import Audience, SlotKind, slots_for
from portal.notices.models import NoticeStatus, NoticeVersion
from portal.permissions import Role
from tests.helpers_auth import login, make_user
from tests.notices.conftest import CLI, complete_values, publish_notice


def _text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True).replace("&#39;", "'")


def payload(audience: Audience, values: dict[str, Any], revision: int) -> dict[str, str]:
    """Return the editor's form fields for `values`, as a browser would post them."""
    data: dict[str, str] = {"revision": str(revision)}
    for slot in slots_for(audience):
        value = values.get(slot.key)
        if slot.kind == SlotKind.BILINGUAL:
            for lang in ("fr", "en"):
                data[f"{slot.key}_{lang}"] = (value or {}).get(lang, "")
        elif slot.kind == SlotKind.TRANSFERS:
            for index, row in enumerate(value or []):
                for field in ("recipient", "country", "mechanism"):
                    data[f"{slot.key}-{index}-{field}"] = row.get(field, "")
        else:
            data[slot.key] = value or ""
    return data


def _version(db, audience: Audience, number: int) -> NoticeVersion:
    db.expire_all()
    return db.scalars(select(NoticeVersion).where(NoticeVersion.audience == audience.value,
                                                  NoticeVersion.number == number)).one()


def test_the_dpo_writes_saves_and_publishes_a_notice(client, db, dpo) -> None:
    login(client, dpo)
    manage = _text(client.get("/notices/manage"))
    assert manage.count("Write this notice") == len(Audience)

    started = client.post("/notices/manage/patient/draft")
    assert started.status_code == 302
    draft = _version(db, Audience.PATIENT, 1)
    assert started.headers["Location"] == f"/notices/manage/versions/{draft.id}/edit"
    editor = _text(client.get(started.headers["Location"]))
    assert "Controller's postal address and contact" in editor
    assert 'name="purposes_fr"' in editor and 'name="purposes_en"' in editor

    values = complete_values(draft, transfers_outside_eu="listed", transfers=[
        {"recipient": "Exemple Pharma Inc.", "country": "US", "mechanism": "scc"}])
    saved = client.post(f"/notices/manage/versions/{draft.id}/edit",
                        data=payload(Audience.PATIENT, values, draft.revision))
    assert saved.status_code == 302
    draft = _version(db, Audience.PATIENT, 1)
    assert draft.slots["transfers"] == values["transfers"]
    assert draft.slots["dpo_contact"] == values["dpo_contact"]

    page = _text(client.get(saved.headers["Location"] + "?lang=en"))
    assert "Every mandatory slot is filled." in page
    assert "Exemple Pharma Inc., United States: a transfer covered by the standard" in page
    published = client.post(f"/notices/manage/versions/{draft.id}/publish",
                            data={"revision": str(draft.revision), "material": "material"})
    assert published.status_code == 302
    draft = _version(db, Audience.PATIENT, 1)
    assert draft.status == NoticeStatus.PUBLISHED
    assert draft.approved_by_id == dpo.id
    assert client.get("/notices/patient?lang=en").status_code == 200


def test_the_editor_names_every_slot_that_blocks_publication(client, db, dpo) -> None:
    draft = services.start_draft(db, CLI, Audience.PROFESSIONAL)
    services.update_draft(db, CLI, draft, {
        **draft.slots, "retention": {"fr": "", "en": "Kept five years."},
        "transfers_outside_eu": "listed",
        "transfers": [{"recipient": "Exemple Pharma Inc.", "country": "IN", "mechanism": ""}]})
    db.commit()
    login(client, dpo)

    refused = client.post(f"/notices/manage/versions/{draft.id}/publish",
                          data={"revision": str(draft.revision)})

    assert refused.status_code == 400
    page = _text(refused)
    assert "Publication is blocked until these slots are completed:" in page
    for message in ("Controller's postal address and contact: missing.",
                    "Controller established in the European Union: no answer chosen.",
                    "Data protection officer's contact details: missing.",
                    "Retention periods, in plain words (French): missing.",
                    "Transfer to India has no mechanism"):
        assert message in page, message
    assert f'href="/notices/manage/versions/{draft.id}/edit#slot-retention"' in page
    assert _version(db, Audience.PROFESSIONAL, 1).status == NoticeStatus.DRAFT
    assert client.get("/notices/professional").status_code == 404


def test_a_second_version_needs_the_editor_to_say_whether_it_is_material(client, db, dpo) -> None:
    publish_notice(db, Audience.WEBSITE)
    draft = services.start_draft(db, CLI, Audience.WEBSITE)
    services.update_draft(db, CLI, draft, {**draft.slots, "recipients": {
        "fr": "Le laboratoire seulement.", "en": "The laboratory only."}})
    db.commit()
    login(client, dpo)

    page = _text(client.get(f"/notices/manage/versions/{draft.id}"))
    assert "What changed since version 1" in page
    assert "The laboratory only." in page
    assert re.search(r'value="material"[^>]*checked|checked[^>]*value="material"', page)

    refused = client.post(f"/notices/manage/versions/{draft.id}/publish",
                          data={"revision": str(draft.revision)})
    assert refused.status_code == 400
    assert "Say whether this change is material." in _text(refused)

    client.post(f"/notices/manage/versions/{draft.id}/publish",
                data={"revision": str(draft.revision), "material": "minor"})
    assert _version(db, Audience.WEBSITE, 2).material is False
    assert _version(db, Audience.WEBSITE, 1).status == NoticeStatus.SUPERSEDED


def test_a_bad_transfer_row_is_a_form_error(client, db, dpo) -> None:
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    db.commit()
    login(client, dpo)
    values = complete_values(draft, transfers_outside_eu="listed", transfers=[
        {"recipient": "Exemple Pharma Inc.", "country": "", "mechanism": "scc"},
        {"recipient": "", "country": "FR", "mechanism": ""}])

    response = client.post(f"/notices/manage/versions/{draft.id}/edit",
                           data=payload(Audience.PATIENT, values, draft.revision))

    assert response.status_code == 200
    page = _text(response)
    assert "Choose the country the data go to." in page
    assert "Choose a country from the list." in page
    assert _version(db, Audience.PATIENT, 1).slots["transfers"] == []


def test_a_stale_editor_cannot_overwrite_a_newer_save(client, db, dpo) -> None:
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    db.commit()
    old_revision = draft.revision
    services.update_draft(db, CLI, draft, complete_values(draft))
    db.commit()
    login(client, dpo)

    response = client.post(f"/notices/manage/versions/{draft.id}/edit",
                           data=payload(Audience.PATIENT, draft.slots, old_revision))

    assert response.status_code == 409
    assert "Someone else saved this draft in the meantime" in _text(response)


def test_a_draft_can_be_deleted(client, db, dpo) -> None:
    draft = services.start_draft(db, CLI, Audience.RELATIVE)
    db.commit()
    login(client, dpo)

    response = client.post(f"/notices/manage/versions/{draft.id}/discard")

    assert response.status_code == 302
    db.expire_all()
    assert services.current_draft(db, Audience.RELATIVE) is None


def test_a_published_version_shows_its_frozen_text_and_no_editor(client, db, dpo) -> None:
    version = publish_notice(db, Audience.PATIENT)
    login(client, dpo)

    page = _text(client.get(f"/notices/manage/versions/{version.id}?lang=en"))
    edit = client.get(f"/notices/manage/versions/{version.id}/edit")

    assert "Text as published" in page
    assert "Approve and publish" not in page
    assert "Version 1, published on" in page
    assert edit.status_code == 302


@pytest.mark.parametrize("role", [Role.PRESCRIBER, Role.ADMINISTRATOR, Role.AUDITOR,
                                  Role.PHARMACIST_IN_CHARGE])
def test_other_roles_cannot_open_the_editor(client, db, role) -> None:
    person = make_user(db, "someone.else", role=role)
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    db.commit()
    login(client, person)  # nothing published yet: no first-login page in the way

    for method, path in (("get", "/notices/manage"), ("post", "/notices/manage/website/draft"),
                         ("get", f"/notices/manage/versions/{draft.id}"),
                         ("post", f"/notices/manage/versions/{draft.id}/publish"),
                         ("get", "/notices/manage/acknowledgements")):
        assert getattr(client, method)(path).status_code == 403, path
    assert "/notices/manage" not in _text(client.get("/"))  # no menu entry either
