"""[sensitive-justification] (referential 7.2): ethnic origin, genetic data, sex life and
tobacco/alcohol/drug use need a written necessity justification."""

from .support import located, only_problem, problems


def test_tobacco_use_without_justification_is_refused():
    problem = only_problem("sensitive_no_justification.yaml")
    assert str(problem).startswith(
        located("sensitive_no_justification.yaml", "category: substance_use",
                "sensitive-justification", "smoking_status")
    )
    assert "no written justification" in problem.message


def test_alcohol_use_declared_as_health_data_is_refused():
    problem = only_problem("sensitive_undeclared.yaml")
    assert str(problem).startswith(
        located("sensitive_undeclared.yaml", "category: health", "sensitive-justification",
                "alcohol_units")
    )
    assert "looks like substance use" in problem.message


def test_a_justified_sensitive_field_is_accepted():
    assert problems("sensitive_justified.yaml") == []
