"""Drafts of protocol definitions: start, save with re-lint, concurrency, compare, and the
maker-checker cycle that puts a draft in force (the services the builder's pages call)."""

from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.errors import Conflict, Forbidden
from portal.permissions import Role
from portal.protocols import drafts
from portal.protocols.compare import version_changes
from portal.protocols.demo import DEMO_PROTOCOL
from portal.protocols.models import DraftStatus, ProtocolVersion
from portal.protocols.services import (
    IncompatibleVersion,
    current_version,
    install_protocol,
    register_forms_in_use,
)
from tests.helpers_auth import make_user

from .support import DATA
from .test_install import OPERATOR

DEMO_TEXT = DEMO_PROTOCOL.read_text(encoding="utf-8")


@pytest.fixture
def managers(db):  # noqa: ANN001, ANN201
    author = make_user(db, "a.auteur", role=Role.PHARMACIST_IN_CHARGE)
    checker = make_user(db, "v.verif", role=Role.MEDICAL_AFFAIRS)
    return author, checker


@pytest.fixture
def in_force(db):  # noqa: ANN001, ANN201
    installed = install_protocol(db, OPERATOR, DEMO_PROTOCOL)
    db.commit()
    return installed.version


def _edited(text: str, change) -> str:  # noqa: ANN001
    data = yaml.safe_load(text)
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _follow_up(data: dict) -> dict:
    return next(f for f in data["forms"] if f["key"] == "follow_up")


def _drop_heart_rate(data: dict) -> None:
    """Remove a follow-up field nothing else refers to."""
    section = next(s for s in _follow_up(data)["sections"] if s["key"] == "clinical")
    section["fields"] = [f for f in section["fields"] if f["key"] != "heart_rate"]


def loaded_definition(version):  # noqa: ANN001, ANN201
    from portal.protocols.services import loaded

    return loaded(version).definition


def _actions(db) -> list[str]:  # noqa: ANN001
    return [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))
            if e.action.startswith("protocols:draft:")]


def test_a_draft_from_the_version_in_force_holds_its_text(db, managers, in_force) -> None:  # noqa: ANN001
    author, _ = managers
    draft = drafts.start_from_current(db, author, in_force.protocol_key)
    assert draft.text == in_force.source_text
    assert draft.base_version_id == in_force.id
    assert draft.author_label == "a.auteur" and draft.status == DraftStatus.EDITING
    assert drafts.lint(draft.text, draft.source_name).clean


def test_a_draft_from_an_uploaded_file_keeps_any_text_and_lists_its_problems(db, managers) -> None:  # noqa: ANN001
    author, _ = managers
    text = (DATA / "free_text_type.yaml").read_text(encoding="utf-8")
    draft = drafts.start_from_file(db, author, "mine.yaml", text.encode())
    assert draft.text == text  # nothing lost, nothing truncated
    found = drafts.lint(draft.text, draft.source_name).problems
    assert [p.rule for p in found] == ["no-free-text"]
    assert found[0].field_key and found[0].line > 1 and found[0].fix


def test_an_upload_that_is_not_a_definition_file_is_refused_with_why(db, managers) -> None:  # noqa: ANN001
    author, _ = managers
    with pytest.raises(drafts.DraftError, match="a .yaml, .yml or .json"):
        drafts.start_from_file(db, author, "notes.txt", b"x")
    with pytest.raises(drafts.DraftError, match="not UTF-8"):
        drafts.start_from_file(db, author, "d.yaml", b"\xff\xfe\x00bad")


def test_a_draft_from_a_redcap_dictionary_keeps_the_fate_report(db, managers) -> None:  # noqa: ANN001
    author, _ = managers
    data = (DATA / "redcap" / "followup_ui.csv").read_bytes()
    draft = drafts.start_from_import(db, author, "redcap", {"main": ("followup_ui.csv", data)})
    report = drafts.import_report(draft)
    assert report is not None and report["source"] == "followup_ui.csv"
    fates = {f["key"]: f["fate"] for f in report["fields"]}
    assert fates["comments"] == "rejected"  # a free-text zone
    assert "imported" in fates.values()
    rejected = next(f for f in report["fields"] if f["key"] == "comments")
    assert rejected["reasons"] and "/tmp" not in json.dumps(report)
    assert draft.origin == "redcap" and draft.source_name == "followup_ui.yaml"


def test_an_unreadable_import_names_the_file_not_the_scratch_folder(db, managers) -> None:  # noqa: ANN001
    author, _ = managers
    with pytest.raises(drafts.DraftError) as raised:
        drafts.start_from_import(db, author, "odm", {"main": ("study.xml", b"<ODM")})
    assert "study.xml" in str(raised.value) and "portal-import-" not in str(raised.value)


def test_each_save_relints_and_counts_a_revision(db, managers, in_force) -> None:  # noqa: ANN001
    author, _ = managers
    draft = drafts.start_from_current(db, author, in_force.protocol_key)
    broken = draft.text.replace("type: yes_no", "type: free_text", 1)
    saved = drafts.save_text(db, author, draft.id, broken, revision=1)
    assert saved.draft.revision == 2
    assert [p.rule for p in saved.lint.problems] == ["no-free-text"]
    fixed = drafts.save_text(db, author, draft.id, draft.text.replace("free_text", "yes_no", 1),
                             revision=2)
    assert fixed.lint.clean and fixed.draft.revision == 3
    assert _actions(db) == ["protocols:draft:create", "protocols:draft:save",
                            "protocols:draft:save"]


def test_two_managers_saving_the_same_revision_the_second_gets_a_conflict(
        db, managers, in_force) -> None:  # noqa: ANN001
    author, checker = managers
    draft = drafts.start_from_current(db, author, in_force.protocol_key)
    first = DEMO_TEXT.replace("Suivi", "Suivi A", 1)
    drafts.save_text(db, author, draft.id, first, revision=1)
    with pytest.raises(drafts.DraftConflict) as raised:
        drafts.save_text(db, checker, draft.id, DEMO_TEXT.replace("Suivi", "Suivi B", 1),
                         revision=1)
    assert "a.auteur" in str(raised.value)
    assert drafts.get_draft(db, draft.id).text == first  # the first save is not lost


def test_compare_lists_added_removed_retyped_choices_bounds_and_labels(
        db, managers, in_force) -> None:  # noqa: ANN001
    author, _ = managers
    draft = drafts.start_from_current(db, author, in_force.protocol_key)

    def change(data: dict) -> None:
        form = _follow_up(data)
        fields = [f for s in form["sections"] for f in s["fields"]]
        integer = next(f for f in fields if f["type"] == "integer")
        integer["max"] = integer["max"] + 1
        choice = next(f for f in fields if f["type"] == "single_choice" and len(f["choices"]) > 2)
        choice["choices"].append({"code": "ZZ", "label": {"fr": "Autre Z", "en": "Other Z"}})
        choice["label"]["en"] += " (new)"
        form["sections"][-1]["fields"].append({
            "key": "new_count", "type": "integer", "min": 0, "max": 9, "category": "health",
            "put_ref": "Annexe 2",
            "label": {"fr": "Nouveau", "en": "New"}})
    saved = drafts.save_text(db, author, draft.id, _edited(draft.text, change), revision=1)
    assert saved.lint.clean, [str(p) for p in saved.lint.findings]
    compared = drafts.comparison(db, saved.draft)
    kinds = {(c.kind, c.field) for c in compared.changes}
    assert ("field_added", "new_count") in kinds
    assert any(k == "bounds" for k, _ in kinds)
    assert any(k == "choice_added" for k, _ in kinds)
    assert any(k == "label" for k, _ in kinds)
    assert compared.breaks == []


def test_a_draft_removing_a_field_with_stored_answers_cannot_be_submitted(
        app, db, managers, in_force) -> None:  # noqa: ANN001
    register_forms_in_use(app, lambda _session, _key: {"follow_up"})
    author, _ = managers
    draft = drafts.start_from_current(db, author, in_force.protocol_key)
    saved = drafts.save_text(db, author, draft.id, _edited(draft.text, _drop_heart_rate),
                             revision=1)
    assert saved.lint.clean, [str(p) for p in saved.lint.findings]
    compared = drafts.comparison(db, saved.draft)
    assert "follow_up.heart_rate: field removed" in compared.breaks
    with pytest.raises(drafts.NotSubmittable) as raised:
        drafts.submit(db, author, draft.id, revision=2)
    assert "follow_up.heart_rate: field removed (stored submissions use it)" in \
        raised.value.reasons
    assert drafts.get_draft(db, draft.id).status == DraftStatus.EDITING


def test_a_draft_with_findings_cannot_be_submitted(db, managers) -> None:  # noqa: ANN001
    author, _ = managers
    text = (DATA / "free_text_type.yaml").read_text(encoding="utf-8")
    draft = drafts.start_from_file(db, author, "mine.yaml", text.encode())
    with pytest.raises(drafts.NotSubmittable, match="no-free-text"):
        drafts.submit(db, author, draft.id, revision=1)


def _newer(db, author, in_force):  # noqa: ANN001, ANN202
    draft = drafts.start_from_current(db, author, in_force.protocol_key)
    text = _edited(draft.text, lambda d: d.update(version=str(d["version"]) + "-b"))
    drafts.save_text(db, author, draft.id, text, revision=1)
    drafts.submit(db, author, draft.id, revision=2)
    return draft


def test_the_author_cannot_approve_a_second_manager_puts_it_in_force(
        db, managers, in_force) -> None:  # noqa: ANN001
    author, checker = managers
    draft = _newer(db, author, in_force)
    with pytest.raises(Forbidden, match="second person"):
        drafts.approve(db, author, draft.id)
    with pytest.raises(Conflict, match="submitted"):  # no more saves
        drafts.save_text(db, author, draft.id, draft.text, revision=draft.revision)
    installed = drafts.approve(db, checker, draft.id)
    db.commit()
    version = current_version(db, in_force.protocol_key)
    assert version is not None and version.id == installed.version.id
    assert version.author_label == "a.auteur" and version.approved_by_label == "v.verif"
    assert version.approved_at is not None and version.approved_at.tzinfo is not None
    assert version.source_text == draft.text
    changes = version_changes(drafts.versions(db, version.protocol_key),
                              loaded_definition)
    assert changes[0] == []  # only the version label changed
    assert draft.status == DraftStatus.APPROVED and draft.installed_version_id == version.id
    assert _actions(db)[-2:] == ["protocols:draft:submit", "protocols:draft:approve"]
    with pytest.raises(Conflict):
        drafts.approve(db, checker, draft.id)


def test_a_refusal_needs_a_reason_and_a_second_person(db, managers, in_force) -> None:  # noqa: ANN001
    author, checker = managers
    draft = _newer(db, author, in_force)
    with pytest.raises(Forbidden):
        drafts.refuse(db, author, draft.id, "no")
    with pytest.raises(drafts.DraftError):
        drafts.refuse(db, checker, draft.id, "  ")
    drafts.refuse(db, checker, draft.id, "Libellés à revoir")
    assert draft.status == DraftStatus.REFUSED and draft.refusal_reason == "Libellés à revoir"
    assert db.scalar(select(ProtocolVersion).where(ProtocolVersion.is_current.is_(True))).id \
        == in_force.id
    drafts.reopen(db, author, draft.id)
    assert draft.status == DraftStatus.EDITING
    assert _actions(db)[-2:] == ["protocols:draft:refuse", "protocols:draft:reopen"]


def test_approval_is_refused_when_stored_answers_appeared_since_the_submission(
        app, db, managers, in_force) -> None:  # noqa: ANN001
    author, checker = managers
    draft = drafts.start_from_current(db, author, in_force.protocol_key)
    text = _edited(draft.text, _drop_heart_rate)
    drafts.save_text(db, author, draft.id, text, revision=1)
    drafts.submit(db, author, draft.id, revision=2)
    register_forms_in_use(app, lambda _session, _key: {"follow_up"})
    with pytest.raises(IncompatibleVersion):
        drafts.approve(db, checker, draft.id)
    assert current_version(db, in_force.protocol_key).id == in_force.id


def test_a_cli_install_records_its_changes_too(db, in_force, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "v2.yaml"
    path.write_text(_edited(DEMO_TEXT, lambda d: _follow_up(d)["title"].update(en="Visit")),
                    encoding="utf-8")
    version = install_protocol(db, OPERATOR, path).version
    changes = version_changes(drafts.versions(db, version.protocol_key), loaded_definition)
    assert [c.kind for c in changes[0]] == ["label"]
    assert [c.kind for c in changes[1]] == ["form_added"] * 6  # the first version
    assert version.approved_by_label is None and version.author_label is None
