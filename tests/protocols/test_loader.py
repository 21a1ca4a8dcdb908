"""The loader: safe YAML or JSON, schema version first, every problem located."""

from __future__ import annotations

import pytest

from portal.protocols.loader import (
    ProtocolDefinitionError,
    check_path,
    load_path,
    load_text,
)

from .support import DATA, DEMO, located, only_problem


def test_broken_yaml_is_reported_at_its_line():
    problem = only_problem("bad_yaml.yaml")
    assert problem.rule == "syntax"
    assert (problem.line, problem.column) == (30, 11)  # the mis-indented `min:`
    assert str(problem).startswith(f"{DATA / 'bad_yaml.yaml'}:30:11: [syntax] invalid YAML")


def test_a_key_written_twice_is_refused_rather_than_silently_overwritten():
    problem = only_problem("duplicate_yaml_key.yaml")
    lines = (DATA / "duplicate_yaml_key.yaml").read_text().splitlines()
    second = max(i for i, row in enumerate(lines, 1) if row.strip().startswith("max:"))
    assert str(problem).startswith(
        f"{DATA / 'duplicate_yaml_key.yaml'}:{second}:13: [syntax] field 'weight_kg': "
        "key 'max' appears twice"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("schema_version_2.yaml", "schema_version 2 is not supported"),
        ("schema_version_missing.yaml", "`schema_version` is missing"),
    ],
)
def test_the_schema_version_is_checked_first(name, message):
    problem = only_problem(name)
    assert problem.rule == "schema-version"
    assert message in problem.message


def test_an_unknown_type_is_a_load_time_error_listing_the_known_types():
    problem = only_problem("unknown_type.yaml")
    assert str(problem).startswith(
        located("unknown_type.yaml", "type: file_upload", "unknown-type", "consent_scan")
    )
    assert "calculated" in problem.fix


def test_schema_errors_are_all_reported_with_their_field_and_line():
    found = check_path(DATA / "schema_error.yaml")
    assert [str(p).split(": [")[0].rsplit(":", 2)[1:] for p in found] == [["28", "13"],
                                                                          ["41", "13"]]
    assert "min must not exceed max" in found[0].message
    assert found[1].message == "unknown key 'requried'"
    assert str(found[1]).startswith(
        located("schema_error.yaml", "requried", "schema", "height_cm")
    )


def test_json_definitions_load_and_json_syntax_errors_are_located():
    assert load_path(DATA / "valid.json").key == "fixture_json"
    problem = only_problem("bad_json.json")
    assert (problem.rule, problem.line) == ("syntax", 5)


def test_an_error_lists_one_line_per_problem():
    with pytest.raises(ProtocolDefinitionError) as caught:
        load_path(DATA / "schema_error.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and all(" Fix: " in line for line in lines)


def test_an_unreadable_file_is_a_problem_not_a_traceback(tmp_path):
    problem = check_path(tmp_path / "missing.yaml")[0]
    assert problem.rule == "file" and "cannot read" in problem.message


def test_the_content_hash_ignores_layout_and_comments_but_not_content():
    text = DEMO.read_text(encoding="utf-8")
    first = load_text(text, "demo.yaml")
    reformatted = load_text("# another comment\n" + text.replace("  periodicity_months: 6",
                                                                  "  periodicity_months:   6"),
                            "demo.yaml")
    changed = load_text(text.replace('version: "1.0"', 'version: "1.1"'), "demo.yaml")
    assert first.content_hash == reformatted.content_hash
    assert changed.content_hash != first.content_hash


def test_a_stored_text_is_parsed_once():
    text = DEMO.read_text(encoding="utf-8")
    assert load_text(text, "stored") is load_text(text, "stored")


def test_yaml_tags_that_build_python_objects_are_refused():
    text = DEMO.read_text(encoding="utf-8").replace(
        'version: "1.0"', "version: !!python/object/apply:os.system ['true']"
    )
    with pytest.raises(ProtocolDefinitionError, match=r"\[syntax\]"):
        load_text(text, "evil.yaml")


def test_nested_aliases_cannot_blow_up_loading():
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(ProtocolDefinitionError, match="expands to more than"):
        load_text("schema_version: 1\n" + "\n".join(lines) + "\n", "laughs.yaml")
