"""[expression]: conditions name existing fields and do not depend on themselves."""

from .support import located, only_problem


def test_a_condition_on_an_unknown_field_is_refused():
    problem = only_problem("expression_unknown_field.yaml")
    assert str(problem).startswith(
        located("expression_unknown_field.yaml", "visible_if:", "expression", "dose_reason")
    )
    assert "unknown field 'dose_changed'" in problem.message


def test_conditions_depending_on_each_other_are_refused():
    problem = only_problem("expression_cycle.yaml")
    assert "[expression]" in str(problem)
    assert "depends, directly or not, on the field itself" in problem.message
