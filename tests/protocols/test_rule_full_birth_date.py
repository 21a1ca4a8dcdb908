"""[full-birth-date] (referential 7.2 a): a full birth date only in a paediatric form."""

from .support import located, only_problem, problems


def test_a_birth_date_in_an_adult_form_is_refused():
    problem = only_problem("birth_date_adult.yaml")
    assert str(problem).startswith(
        located("birth_date_adult.yaml", "identifies: birth_date", "full-birth-date",
                "birth_date")
    )
    assert "paediatric" in problem.message


def test_the_same_field_in_a_paediatric_form_is_accepted():
    assert problems("birth_date_paediatric.yaml") == []
