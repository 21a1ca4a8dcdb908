"""[no-nir-ins] (referential 7.2 a): nothing holds or asks for a NIR or an INS."""

import pytest
import yaml

from portal.protocols.builder import validate_answers
from portal.protocols.loader import LoadedProtocol, content_hash
from portal.protocols.patterns import pattern_facts
from portal.protocols.schema import Protocol

from .support import DATA, located, only_problem


@pytest.mark.parametrize(
    ("name", "needle", "key"),
    [
        ("nir_key.yaml", "label:", "nir"),
        ("nir_label.yaml", "label:", "insurance_ref"),
        ("ins_label.yaml", "label:", "national_id"),
    ],
)
def test_a_field_asking_for_a_nir_or_ins_is_refused(name, needle, key):
    problem = only_problem(name)
    assert str(problem).startswith(located(name, needle, "no-nir-ins", key))
    assert "NIR or INS" in problem.message


def test_a_pattern_accepting_fifteen_digits_is_refused():
    problem = only_problem("nir_pattern.yaml")
    assert str(problem).startswith(
        located("nir_pattern.yaml", "pattern:", "no-nir-ins", "tracking_code")
    )
    assert "13 to 15 digits" in problem.message


def test_a_number_that_can_reach_thirteen_digits_is_refused():
    problem = only_problem("nir_integer.yaml")
    assert str(problem).startswith(
        located("nir_integer.yaml", "max:", "no-nir-ins", "tracking_number")
    )


@pytest.mark.parametrize(
    ("pattern", "accepts_nir_shape"),
    [
        (r"^[0-9]{13}$", True),
        (r"^\d{3}[ .-]?\d{3}[ .-]?\d{3}[ .-]?\d{4}$", True),  # 13 digits with separators
        (r"^(?:\d{2}){7}$", True),
        (r"^[A-Z0-9-]{4,30}$", True),  # the loose ANSM reference shape: admits 13 digits
        (r"^[0-9]{22}$", True),  # a former calculated INS (INS-C)
        (r"^[0-9]{11}$", False),  # an RPPS number
        (r"^[0-9]{8}$", False),  # a MedDRA code
        (r"^AAC-[0-9]{4}-[0-9]{1,6}$", False),
    ],
)
def test_pattern_analysis_counts_the_digits_a_pattern_admits(pattern, accepts_nir_shape):
    counts = pattern_facts(pattern).digit_counts
    assert bool(counts & {13, 14, 15, 22}) is accepts_nir_shape


def test_a_nir_typed_into_a_coded_field_is_refused_even_if_a_pattern_let_it_through():
    # Defence in depth (MIN-04): build the form from a definition that skipped the linter.
    data = yaml.safe_load((DATA / "nir_pattern.yaml").read_text(encoding="utf-8"))
    definition = Protocol.model_validate(data)
    unchecked = LoadedProtocol(definition, content_hash(definition), "unchecked")
    result = validate_answers(unchecked, "followup", {"visit_date": "2025-01-02",
                                                      "tracking_code": "185057800608491"})
    assert result.errors == {
        "tracking_code": ["A social security number (NIR) or INS must not be entered."]
    }
