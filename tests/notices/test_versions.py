"""Versions: draft, published (approver and date), superseded; diffs; who may edit (INF-01)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.errors import Conflict, Forbidden
from portal.notices import services
from portal.notices.catalog import Audience
from portal.notices.models import NoticeStatus
from portal.permissions import Role
from tests.clock_starts import long_date
from tests.helpers_auth import make_user
from tests.notices.conftest import CLI, complete_values, publish_notice

RETENTION = {"fr": "Les données sont conservées cinq ans.", "en": "The data are kept five years."}


def _actions(db) -> list[tuple[str, str | None]]:
    return [(e.action, e.target_ref) for e in db.scalars(
        select(AuditEvent).where(AuditEvent.action.like("notices:%")).order_by(AuditEvent.seq))]


def test_a_publication_records_its_approver_and_date_and_supersedes_the_previous(
        db, dpo) -> None:
    start = clock.now()
    with clock.frozen(start) as frozen:
        first = publish_notice(db, Audience.PATIENT, dpo)
        frozen.tick(timedelta(days=10))
        second = publish_notice(db, Audience.PATIENT, dpo, retention=RETENTION)

    assert (first.number, second.number) == (1, 2)
    assert first.status == NoticeStatus.SUPERSEDED
    assert first.superseded_at == start + timedelta(days=10)
    assert second.status == NoticeStatus.PUBLISHED
    assert second.published_at == start + timedelta(days=10)
    assert second.approved_by_id == dpo.id
    assert second.approved_by_label == "Isabelle Laurent"
    assert services.current_published(db, Audience.PATIENT) == second
    tenth_day = start + timedelta(days=10)
    assert f"Version 2, publiée le {long_date(tenth_day, 'fr')}." in second.body_fr
    assert f"Version 2, published on {long_date(tenth_day, 'en')}." in second.body_en


def test_earlier_versions_keep_their_text(db, dpo) -> None:
    first = publish_notice(db, Audience.PATIENT, dpo)
    publish_notice(db, Audience.PATIENT, dpo, retention=RETENTION)

    old = services.published_version(db, Audience.PATIENT, 1)

    assert old == first
    assert RETENTION["fr"] not in old.body_fr
    assert "base de suivi jusqu&#39;à 2 ans après" in old.body_fr


def test_the_diff_lists_each_changed_slot_with_old_and_new_values(db, dpo) -> None:
    first = publish_notice(db, Audience.PATIENT, dpo)
    draft = services.start_draft(db, dpo, Audience.PATIENT)
    services.update_draft(db, dpo, draft, {**draft.slots, "retention": RETENTION,
                                           "complaint": "CNIL, www.cnil.fr"})

    previous, changes = services.diff(db, draft)

    assert previous == first
    assert [(c.slot.key, c.slot.material) for c in changes] == [("retention", True),
                                                                ("complaint", False)]
    assert changes[0].old == first.slots["retention"]
    assert changes[0].new == RETENTION
    assert services.suggests_material(db, draft)


def test_a_typo_fix_is_not_suggested_as_material(db, dpo) -> None:
    publish_notice(db, Audience.PROFESSIONAL, dpo)
    draft = services.start_draft(db, dpo, Audience.PROFESSIONAL)
    fixed = dict(draft.slots["automated_decisions"])
    fixed["en"] = fixed["en"].replace("profiling", "profiling,")
    services.update_draft(db, dpo, draft, {**draft.slots, "automated_decisions": fixed})

    assert not services.suggests_material(db, draft)


def test_a_new_draft_starts_from_the_version_in_force(db, dpo) -> None:
    first = publish_notice(db, Audience.RELATIVE, dpo, retention=RETENTION)

    draft = services.start_draft(db, dpo, Audience.RELATIVE)

    assert draft.number == 2
    assert draft.slots == first.slots
    assert services.diff(db, draft)[1] == []


def test_a_first_draft_takes_the_shared_slots_of_another_published_notice(db, dpo) -> None:
    published = publish_notice(db, Audience.PATIENT, dpo, retention=RETENTION)

    draft = services.start_draft(db, dpo, Audience.PROFESSIONAL)

    for key in ("controller_address", "dpo_contact", "retention", "transfers_outside_eu"):
        assert draft.slots[key] == published.slots[key], key
    # What each audience is told about its own data is not copied from another audience.
    assert draft.slots["data_categories"] != published.slots["data_categories"]
    assert "RPPS" in draft.slots["data_categories"]["fr"]


def test_product_and_indication_come_from_the_protocol(db) -> None:
    draft = services.start_draft(db, CLI, Audience.PATIENT)

    assert draft.slots["product"] == "XYZ-123 50 mg, comprimé pelliculé (velnorastat)"
    assert draft.slots["indication"]["en"].startswith("Lindqvist disease, severe form")


def test_a_published_version_cannot_be_changed_or_deleted(db, dpo) -> None:
    version = publish_notice(db, Audience.WEBSITE, dpo)

    with pytest.raises(Conflict):
        services.update_draft(db, dpo, version, {**version.slots, "retention": RETENTION})
    with pytest.raises(Conflict):
        services.discard_draft(db, dpo, version)
    with pytest.raises(Conflict):
        services.publish(db, dpo, version, material=True)


def test_only_one_draft_at_a_time(db, dpo) -> None:
    services.start_draft(db, dpo, Audience.PATIENT)
    with pytest.raises(Conflict):
        services.start_draft(db, dpo, Audience.PATIENT)


def test_a_draft_saved_by_someone_else_meanwhile_is_a_conflict(db, dpo) -> None:
    draft = services.start_draft(db, dpo, Audience.PATIENT)
    seen = draft.revision
    services.update_draft(db, dpo, draft, complete_values(draft), expected_revision=seen)

    with pytest.raises(Conflict):
        services.update_draft(db, dpo, draft, {**draft.slots, "retention": RETENTION},
                              expected_revision=seen)
    with pytest.raises(Conflict):
        services.publish(db, dpo, draft, material=True, expected_revision=seen)


def test_a_discarded_draft_leaves_the_version_in_force(db, dpo) -> None:
    first = publish_notice(db, Audience.PATIENT, dpo)
    draft = services.start_draft(db, dpo, Audience.PATIENT)

    services.discard_draft(db, dpo, draft)

    assert services.current_draft(db, Audience.PATIENT) is None
    assert services.current_published(db, Audience.PATIENT) == first


def test_the_first_version_is_always_material(db, dpo) -> None:
    version = publish_notice(db, Audience.TRANSPARENCY, dpo, material=False)
    assert version.material is True


def test_every_change_is_audited(db, dpo) -> None:
    first = publish_notice(db, Audience.PATIENT, dpo)
    second = publish_notice(db, Audience.PATIENT, dpo, retention=RETENTION, material=True)
    draft = services.start_draft(db, dpo, Audience.PATIENT)
    services.discard_draft(db, dpo, draft)

    assert _actions(db) == [
        ("notices:version:create", "patient-v1"),
        ("notices:version:update", "patient-v1"),
        ("notices:version:publish", "patient-v1"),
        ("notices:version:create", "patient-v2"),
        ("notices:version:update", "patient-v2"),
        ("notices:version:supersede", "patient-v1"),
        ("notices:version:publish", "patient-v2"),
        ("notices:version:create", "patient-v3"),
        ("notices:version:discard", "patient-v3"),
    ]
    publication = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "notices:version:publish").order_by(AuditEvent.seq.desc())).first()
    assert publication.actor_id == dpo.id
    assert publication.details == {"material": True, "changed": "retention",
                                   "supersedes": first.audit_ref}
    assert second.audit_ref == "patient-v2"


@pytest.mark.parametrize("role", [Role.PRESCRIBER, Role.ADMINISTRATOR, Role.AUDITOR])
def test_only_the_dpo_edits_and_publishes(db, dpo, role) -> None:
    other = make_user(db, "someone.else", role=role)
    draft = services.start_draft(db, dpo, Audience.PATIENT)

    with pytest.raises(Forbidden):
        services.start_draft(db, other, Audience.WEBSITE)
    with pytest.raises(Forbidden):
        services.update_draft(db, other, draft, complete_values(draft))
    with pytest.raises(Forbidden):
        services.publish(db, other, draft, material=True)
    with pytest.raises(Forbidden):
        services.discard_draft(db, other, draft)


def test_attestation_choices_list_the_patient_note_versions_newest_first(db, dpo) -> None:
    start = clock.now()
    with clock.frozen(start) as frozen:
        publish_notice(db, Audience.PATIENT, dpo)
        frozen.tick(timedelta(days=30))
        publish_notice(db, Audience.PATIENT, dpo, retention=RETENTION)
        services.start_draft(db, dpo, Audience.PATIENT)  # a draft is never offered

    choices = services.attestation_choices(db)

    later = long_date(start + timedelta(days=30), "fr")
    assert choices == [("patient-v2", f"Version 2 of {later} (in force)"),
                       ("patient-v1", f"Version 1 of {long_date(start, 'fr')} (replaced)")]
    assert services.attestation_version(db, "patient-v1").number == 1
    for reference in ("patient-v3", "relative-v1", "patient-vx", "v1", ""):
        assert services.attestation_version(db, reference) is None


def test_the_installed_protocol_wins_over_the_demo_definition(db, tmp_path) -> None:
    from portal.config import PROJECT_ROOT
    from portal.protocols.services import install_protocol

    source = (PROJECT_ROOT / "forms" / "put-sp-demo.yaml").read_text(encoding="utf-8")
    assert '  name: "XYZ-123 50 mg, comprimé pelliculé"' in source
    path = tmp_path / "put-sp-other.yaml"
    path.write_text(source.replace('  name: "XYZ-123 50 mg, comprimé pelliculé"',
                                   '  name: "XYZ-123 100 mg, comprimé"'), encoding="utf-8")
    install_protocol(db, CLI, path)

    draft = services.start_draft(db, CLI, Audience.WEBSITE)

    assert draft.slots["product"] == "XYZ-123 100 mg, comprimé (velnorastat)"


def test_in_production_the_demo_definition_never_fills_a_notice(app, db) -> None:
    app.config["ENV"] = "production"

    draft = services.start_draft(db, CLI, Audience.PATIENT)

    assert draft.slots["product"] == ""
    assert draft.slots["indication"] == {"fr": "", "en": ""}
    assert [p.key for p in services.missing_slots(Audience.PATIENT, complete_values(draft))] \
        == ["product", "indication", "indication"]


def test_a_shared_change_published_elsewhere_is_carried_into_the_next_version(db, dpo) -> None:
    with clock.frozen(clock.now()) as frozen:
        publish_notice(db, Audience.TRANSPARENCY, dpo)
        publish_notice(db, Audience.PATIENT, dpo)
        assert services.inconsistent_shared_slots(db) == []
        frozen.tick(timedelta(days=1))
        publish_notice(db, Audience.PATIENT, dpo, retention=RETENTION)

        assert [s.key for s in services.inconsistent_shared_slots(db)] == ["retention"]
        draft = services.start_draft(db, dpo, Audience.TRANSPARENCY)

    assert draft.slots["retention"] == RETENTION
    assert [c.slot.key for c in services.diff(db, draft)[1]] == ["retention"]
    # An audience-specific slot is never carried over.
    assert "RPPS" in draft.slots["data_categories"]["fr"]


def test_the_editor_warns_when_shared_slots_differ(client, db, dpo) -> None:
    from tests.helpers_auth import login

    publish_notice(db, Audience.WEBSITE, dpo)
    publish_notice(db, Audience.PATIENT, dpo, retention=RETENTION)
    login(client, dpo)

    page = client.get("/notices/manage").get_data(as_text=True)

    assert "differ between the notices in force: Retention periods, in plain words." in page
