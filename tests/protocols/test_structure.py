"""Structured edits of a definition (the builder's structured editor): the text written back is
the same definition, edits keep it valid, and a change of type keeps only what the type takes."""

from __future__ import annotations

import pytest

from portal.protocols import structure
from portal.protocols.demo import DEMO_PROTOCOL
from portal.protocols.loader import load_text

from .support import DATA

DEMO_TEXT = DEMO_PROTOCOL.read_text(encoding="utf-8")


def test_writing_back_without_an_edit_keeps_the_same_definition() -> None:
    data = structure.parse(DEMO_TEXT, "demo.yaml")
    again = structure.dump(data, "demo.yaml")
    assert load_text(again, "demo.yaml").content_hash == load_text(DEMO_TEXT, "d.yaml").content_hash


def test_a_json_draft_is_written_back_as_json() -> None:
    text = (DATA / "valid.json").read_text(encoding="utf-8")
    again = structure.dump(structure.parse(text, "valid.json"), "valid.json")
    assert again.lstrip().startswith("{")
    assert load_text(again, "v.json").content_hash == load_text(text, "valid.json").content_hash


def test_a_text_that_does_not_parse_is_refused_with_why() -> None:
    with pytest.raises(structure.StructureError, match="text editor"):
        structure.parse("key: [unclosed", "d.yaml")
    with pytest.raises(structure.StructureError, match="forms"):
        structure.parse("- a list\n", "d.yaml")


def test_added_duplicated_and_moved_fields_keep_the_definition_valid() -> None:
    data = structure.parse(DEMO_TEXT, "demo.yaml")
    for kind in structure.OFFERED_TYPES:
        structure.add_field(data, "follow_up", "clinical", kind)
    twin = structure.duplicate_field(data, "follow_up", "clinical", "heart_rate")
    structure.move_field(data, "follow_up", "clinical", twin, -1)
    structure.add_section(data, "follow_up")
    structure.add_timepoint(data)
    loaded = load_text(structure.dump(data, "demo.yaml"), "demo.yaml")
    clinical = next(s for s in loaded.definition.form("follow_up").sections
                    if s.key == "clinical")
    keys = [f.key for f in clinical.fields]
    assert keys.index(twin) == keys.index("heart_rate") - 1
    assert {f.type for f in clinical.fields} >= set(structure.OFFERED_TYPES)


def test_no_free_text_type_is_offered() -> None:
    assert "free_text" not in structure.OFFERED_TYPES and "text" not in structure.OFFERED_TYPES
    data = structure.parse(DEMO_TEXT, "demo.yaml")
    with pytest.raises(structure.StructureError, match="not offered"):
        structure.add_field(data, "follow_up", "clinical", "text")


def test_a_change_of_type_drops_what_the_new_type_does_not_take() -> None:
    data = structure.parse(DEMO_TEXT, "demo.yaml")
    structure.update_field(data, "follow_up", "clinical", "heart_rate",
                           {"type": "single_choice", "label_fr": "Pouls", "label_en": "Pulse"})
    fld = structure.field_of(data, "follow_up", "clinical", "heart_rate")
    assert "min" not in fld and "unit" not in fld and fld["choices"]
    load_text(structure.dump(data, "demo.yaml"), "demo.yaml")  # still valid


def test_identification_items_only_from_the_allowed_list() -> None:
    data = structure.parse(DEMO_TEXT, "demo.yaml")
    with pytest.raises(structure.StructureError, match="allowed identification item"):
        structure.update_field(data, "follow_up", "clinical", "heart_rate",
                               {"identifies": "full_name"})


def test_choices_are_typed_one_a_line_and_shown_the_same_way() -> None:
    typed = "a | Oui | Yes\nb | Non\n\n"
    choices = structure.parse_choices(typed)
    assert choices == [{"code": "a", "label": {"fr": "Oui", "en": "Yes"}},
                       {"code": "b", "label": {"fr": "Non", "en": "Non"}}]
    assert structure.choices_text({"choices": choices}) == "a | Oui | Yes\nb | Non | Non"
