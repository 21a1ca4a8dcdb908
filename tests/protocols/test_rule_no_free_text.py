"""[no-free-text] (referential 7.3): no free-text zone can be loaded."""

import pytest

from portal.protocols.loader import ProtocolDefinitionError, load_path

from .support import DATA, located, only_problem


def test_a_textarea_field_is_refused_at_its_type():
    problem = only_problem("free_text_type.yaml")
    assert str(problem).startswith(
        located("free_text_type.yaml", "type: textarea", "no-free-text", "comment")
    )
    assert "free-text zone" in problem.message
    assert "choice list" in problem.fix


def test_a_pattern_that_accepts_spaces_is_free_text():
    problem = only_problem("free_text_pattern.yaml")
    assert str(problem).startswith(
        located("free_text_pattern.yaml", "pattern:", "no-free-text", "other_treatment")
    )
    assert "accepts spaces" in problem.message


def test_a_text_field_in_json_is_refused_with_its_line():
    problem = only_problem("free_text.json")
    assert str(problem).startswith(
        located("free_text.json", '"type": "text"', "no-free-text", "comment")
    )


def test_the_definition_cannot_be_loaded():
    with pytest.raises(ProtocolDefinitionError, match=r"\[no-free-text\]"):
        load_path(DATA / "free_text_type.yaml")
