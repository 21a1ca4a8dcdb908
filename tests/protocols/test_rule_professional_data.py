"""[professional-data] (referential 7.2 c): name, specialty, RPPS and professional contacts
only."""

from .support import located, only_problem


def test_a_professional_s_private_phone_is_refused():
    problem = only_problem("professional_private.yaml")
    assert str(problem).startswith(
        located("professional_private.yaml", "label:", "professional-data",
                "prescriber_home_phone")
    )


def test_a_professional_item_outside_the_list_is_refused():
    problem = only_problem("professional_not_allowed.yaml")
    assert str(problem).startswith(
        located("professional_not_allowed.yaml", "professional: birth_year",
                "professional-data", "prescriber_birth_year")
    )
    assert "professional: birth_year" in problem.message
