"""The one expression language: parsing, typing, three-valued logic, dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from portal.protocols.expressions import (
    ExpressionError,
    FieldInfo,
    PartialDate,
    compile_expression,
)

FIELDS = {
    "age": FieldInfo("number"),
    "weight": FieldInfo("number"),
    "start": FieldInfo("date"),
    "stop": FieldInfo("date"),
    "diagnosis": FieldInfo("partial date"),
    "sex": FieldInfo("code", frozenset({"M", "F"})),
    "criteria": FieldInfo("codes", frozenset({"death", "hospitalisation"})),
}


def run(source: str, today: date = date(2025, 6, 15), **values):
    return compile_expression(source, FIELDS, expect=None).evaluate(values, today)


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("age >= 18 and sex == 'F'", {"age": 30, "sex": "F"}, True),
        ("age >= 18 and sex == 'F'", {"age": 30, "sex": "M"}, False),
        ('sex == "F"', {"sex": "F"}, True),
        ("not (age < 18) or sex == 'M'", {"age": 12, "sex": "F"}, False),
        ("'death' in criteria", {"criteria": frozenset({"death"})}, True),
        ("'death' not in criteria", {"criteria": frozenset({"hospitalisation"})}, True),
        ("sex in ['F', 'M']", {"sex": "M"}, True),
        ("stop >= start", {"start": date(2025, 1, 2), "stop": date(2025, 1, 1)}, False),
        ("stop <= start + 1y", {"start": date(2024, 2, 29), "stop": date(2025, 2, 28)}, True),
        ("stop <= start + 1m", {"start": date(2025, 1, 31), "stop": date(2025, 3, 1)}, False),
        ("start >= today - 30d", {"start": date(2025, 5, 16)}, True),
        ("diagnosis <= today", {"diagnosis": PartialDate(2025, 6)}, True),
        ("diagnosis < start", {"diagnosis": PartialDate(2025, 1), "start": date(2025, 1, 31)},
         False),
        ("days_between(start, stop) == 29", {"start": date(2024, 2, 1), "stop": date(2024, 3, 1)},
         True),
    ],
)
def test_conditions_evaluate_like_a_reader_expects(source, values, expected):
    assert run(source, **values) is expected


def test_a_blank_value_makes_a_comparison_unknown_not_false():
    expression = compile_expression("stop >= start", FIELDS)
    assert expression.evaluate({"start": date(2025, 1, 1), "stop": None}) is None
    assert not expression.holds({"start": date(2025, 1, 1)})  # a condition does not show
    assert not expression.fails({"start": date(2025, 1, 1)})  # a check does not complain


def test_unknown_propagates_through_and_or_like_kleene_logic():
    assert run("age > 1 and sex == 'F'", sex="M") is False  # false decides an `and`
    assert run("age > 1 or sex == 'F'", sex="F") is True  # true decides an `or`
    assert run("age > 1 or sex == 'F'", sex="M") is None


def test_null_tests_blank_values_explicitly():
    assert run("age == null") is True
    assert run("age != null", age=0) is True


def test_arithmetic_and_rounding_for_calculations():
    bmi = compile_expression("round(weight / (age / 100) ^ 2, 1)", FIELDS, expect="number")
    assert bmi.evaluate({"weight": Decimal("70"), "age": 175}) == Decimal("22.9")
    assert bmi.evaluate({"weight": Decimal("70"), "age": 0}) is None  # division by zero


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("age >", "expected a value", 6),
        ("age = 3", "compare with '=='", 5),
        ("age <> 3", "write '!='", 5),
        ("sex == 'X'", "'X' is not a code of field 'sex'", 8),
        ("height > 3", "unknown field 'height'", 1),
        ("start > 3", "cannot compare a date with a number", 1),
        ("'death' in sex", "'in' tests a code against a multiple choice", 1),
        ("__import__('os')", "unknown function '__import__'", 1),
        ("sex == 'F", "unterminated string", 8),
        ("age + 1", "gives a number, a condition is needed", 1),
    ],
)
def test_errors_name_the_problem_and_its_position(source, message, position):
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, FIELDS)
    assert message in caught.value.message
    assert caught.value.position + 1 == position


def test_the_tree_serialises_for_a_browser_script():
    expression = compile_expression("sex == 'F' and age >= 12", FIELDS)
    assert expression.to_json() == [
        "and", [["==", ["ref", "sex"], ["lit", "F"]], [">=", ["ref", "age"], ["lit", 12]]]
    ]
    assert expression.refs == {"sex", "age"}
