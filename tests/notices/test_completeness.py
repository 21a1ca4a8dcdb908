"""Publication is refused while a mandatory slot is empty or a transfer has no mechanism (INF-01,
INF-06)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.errors import BadRequest
from portal.notices import services
from portal.notices.catalog import SLOTS_BY_KEY, Audience, SlotKind, slots_for
from portal.notices.models import NoticeStatus, NoticeVersion
from tests.notices.conftest import CLI, complete_values, publish_notice

# The checklist of section 4.1 of the domain requirements, written out here on purpose: a slot
# dropped from the catalogue must fail this test, not silently leave the parametrization.
EVERY_NOTICE = {
    "controller_name", "controller_address", "controller_in_eu", "dpo_contact", "product",
    "indication", "purposes", "legal_bases", "data_categories", "recipients",
    "transfers_outside_eu", "retention", "rights", "rights_not_applicable", "rights_exercise",
    "complaint", "post_mortem", "automated_decisions",
}
MANDATORY = {
    Audience.PATIENT: EVERY_NOTICE | {"data_source", "provision_requirement"},
    Audience.RELATIVE: EVERY_NOTICE | {"data_source"},
    Audience.PROFESSIONAL: EVERY_NOTICE | {"provision_requirement"},
    Audience.TRANSPARENCY: EVERY_NOTICE | {"provision_requirement", "security_contact"},
    Audience.WEBSITE: EVERY_NOTICE | {"data_source", "provision_requirement"},
}


def _cases() -> list[tuple[Audience, str, str]]:
    cases = []
    for audience, keys in MANDATORY.items():
        for key in sorted(keys):
            if SLOTS_BY_KEY[key].kind == SlotKind.BILINGUAL:
                cases.extend((audience, key, lang) for lang in ("fr", "en"))
            else:
                cases.append((audience, key, ""))
    return cases


def _emptied(version: NoticeVersion, key: str, lang: str) -> dict:
    values = complete_values(version)
    if lang:
        values[key] = {**values[key], lang: "  "}
    else:
        values[key] = ""
    return values


def test_the_catalogue_requires_exactly_the_checklist() -> None:
    for audience, expected in MANDATORY.items():
        required = {slot.key for slot in slots_for(audience) if slot.required}
        assert required == expected, audience


def test_a_complete_draft_has_nothing_missing(db) -> None:
    for audience in Audience:
        draft = services.start_draft(db, CLI, audience)
        assert services.missing_slots(audience, complete_values(draft)) == []


@pytest.mark.parametrize(("audience", "key", "lang"), _cases(),
                         ids=[f"{a.value}-{k}{'-' + lang if lang else ''}"
                              for a, k, lang in _cases()])
def test_publication_is_refused_for_each_empty_mandatory_slot(db, audience, key, lang) -> None:
    draft = services.start_draft(db, CLI, audience)
    services.update_draft(db, CLI, draft, _emptied(draft, key, lang))

    with pytest.raises(services.NoticeIncomplete) as refused:
        services.publish(db, CLI, draft, material=True)

    assert [p.key for p in refused.value.problems] == [key]
    message = refused.value.problems[0].message
    assert str(SLOTS_BY_KEY[key].label) in message
    if lang:
        assert ("French" if lang == "fr" else "English") in message
    assert draft.status == NoticeStatus.DRAFT
    assert services.current_published(db, audience) is None


def test_a_transfer_without_a_mechanism_blocks_publication(db) -> None:
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    services.update_draft(db, CLI, draft, complete_values(
        draft, transfers_outside_eu="listed",
        transfers=[{"recipient": "Exemple Pharma Inc.", "country": "US", "mechanism": ""}]))

    with pytest.raises(services.NoticeIncomplete) as refused:
        services.publish(db, CLI, draft, material=True)

    messages = [p.message for p in refused.value.problems]
    assert messages == ["Transfer to United States has no mechanism (adequacy decision, standard "
                        "clauses, binding corporate rules or article 49 derogation)."]


@pytest.mark.parametrize("mechanism", ["adequacy", "scc", "bcr", "art49"])
def test_a_transfer_with_a_mechanism_is_published_and_shown(db, mechanism) -> None:
    version = publish_notice(
        db, Audience.PATIENT, transfers_outside_eu="listed",
        transfers=[{"recipient": "Exemple Pharma Inc.", "country": "JP", "mechanism": mechanism}])

    assert "Exemple Pharma Inc., Japon" in version.body_fr
    assert "Exemple Pharma Inc., Japan" in version.body_en
    assert "No transfer outside the European Union" not in version.body_en
    article = {"adequacy": "article 45", "scc": "article 46", "bcr": "article 47",
               "art49": "article 49"}[mechanism]
    assert article in version.body_en


def test_announcing_transfers_without_listing_any_blocks_publication(db) -> None:
    draft = services.start_draft(db, CLI, Audience.WEBSITE)
    services.update_draft(db, CLI, draft, complete_values(draft, transfers_outside_eu="listed"))

    with pytest.raises(services.NoticeIncomplete) as refused:
        services.publish(db, CLI, draft, material=True)
    assert [p.key for p in refused.value.problems] == ["transfers"]


def test_listing_transfers_while_saying_there_are_none_blocks_publication(db) -> None:
    draft = services.start_draft(db, CLI, Audience.WEBSITE)
    services.update_draft(db, CLI, draft, complete_values(
        draft, transfers_outside_eu="none",
        transfers=[{"recipient": "Exemple Pharma Inc.", "country": "US", "mechanism": "scc"}]))

    with pytest.raises(services.NoticeIncomplete):
        services.publish(db, CLI, draft, material=True)


def test_no_transfer_is_stated_in_plain_words(db) -> None:
    version = publish_notice(db, Audience.PATIENT)

    assert "Aucun transfert hors de l'Union européenne" in version.body_fr
    assert "No transfer outside the European Union" in version.body_en


@pytest.mark.parametrize(("mechanism", "needs_copy"),
                         [("scc", True), ("bcr", True), ("adequacy", False), ("art49", False)])
def test_the_way_to_obtain_a_copy_is_required_for_safeguards(db, mechanism, needs_copy) -> None:
    draft = services.start_draft(db, CLI, Audience.PROFESSIONAL)
    services.update_draft(db, CLI, draft, complete_values(
        draft, transfers_outside_eu="listed", transfer_copy={"fr": "", "en": ""},
        transfers=[{"recipient": "Exemple Pharma Inc.", "country": "CH", "mechanism": mechanism}]))

    problems = services.missing_slots(Audience.PROFESSIONAL, draft.slots)

    assert [p.key for p in problems] == (["transfer_copy", "transfer_copy"] if needs_copy else [])


def test_a_controller_outside_the_eu_needs_its_eu_representative(db) -> None:
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    services.update_draft(db, CLI, draft, complete_values(draft, controller_in_eu="no"))

    with pytest.raises(services.NoticeIncomplete) as refused:
        services.publish(db, CLI, draft, material=True)
    assert [p.key for p in refused.value.problems] == ["eu_representative"]

    services.update_draft(db, CLI, draft, complete_values(
        draft, controller_in_eu="no", eu_representative="Exemple EU Rep, Dublin"))
    services.publish(db, CLI, draft, material=True)
    assert "Exemple EU Rep, Dublin" in draft.body_en
    assert "not established in the European Union" in draft.body_en


@pytest.mark.parametrize("country", ["FR", "DE", "NO", "XX", "us"])
def test_a_transfer_must_go_to_a_known_country_outside_the_eu_and_eea(db, country) -> None:
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    values = complete_values(draft, transfers_outside_eu="listed", transfers=[
        {"recipient": "Someone", "country": country, "mechanism": "scc"}])

    if country == "us":  # lower case is normalised, not refused
        services.update_draft(db, CLI, draft, values)
        assert draft.slots["transfers"][0]["country"] == "US"
        return
    with pytest.raises(BadRequest):
        services.update_draft(db, CLI, draft, values)


def test_an_incomplete_draft_can_be_saved_but_not_published(db) -> None:
    draft = services.start_draft(db, CLI, Audience.RELATIVE)
    db.commit()

    problems = services.missing_slots(Audience.RELATIVE, draft.slots)

    # A new draft starts from the defaults: only what the controller alone knows is missing.
    assert sorted({p.key for p in problems}) == ["controller_address", "controller_in_eu",
                                                 "dpo_contact", "transfers_outside_eu"]
    assert db.scalars(select(NoticeVersion)).all() == [draft]
