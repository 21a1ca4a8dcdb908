"""The definition schema: types, the JSON Schema for editors, bilingual texts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from portal.protocols.schema import (
    FIELD_TYPE_NAMES,
    CalculatedFieldDef,
    Text,
    json_schema,
)


def test_the_json_schema_lists_every_field_type_and_no_free_text_type():
    schema = json_schema()
    field_types = {
        definition["properties"]["type"]["const"]
        for name, definition in schema["$defs"].items()
        if name.endswith("FieldDef")
    }
    assert field_types == set(FIELD_TYPE_NAMES)
    assert not {"text", "textarea", "notes"} & field_types


def test_the_json_schema_tells_editors_the_allowed_identification_items():
    field = json_schema()["$defs"]["IntegerFieldDef"]["properties"]
    assert "surname_initials" in field["identifies"]["enum"]
    assert "rpps" in field["professional"]["enum"]


def test_a_text_needs_both_languages():
    with pytest.raises(ValidationError):
        Text.model_validate({"fr": "Poids"})
    assert Text(fr="Poids", en="Weight").get("en_GB") == "Weight"
    assert Text(fr="Poids", en="Weight").get(None) == "Poids"


def test_a_calculated_field_cannot_be_required():
    with pytest.raises(ValidationError, match="cannot be required"):
        CalculatedFieldDef.model_validate({
            "key": "bmi", "type": "calculated", "expression": "1", "required": True,
            "label": {"fr": "IMC", "en": "BMI"}, "category": "health", "put_ref": "§4",
        })
