"""[related-persons] (referential 7.2 b): related persons only in exposure forms, never
identified."""

from .support import located, only_problem


def test_partner_data_outside_an_exposure_form_is_refused():
    problem = only_problem("related_outside_exposure.yaml")
    assert str(problem).startswith(
        located("related_outside_exposure.yaml", "category: affected_person", "related-persons",
                "partner_exposed")
    )
    assert "describes their exposure" in problem.message


def test_a_partner_s_initials_in_the_pregnancy_form_are_refused():
    problem = only_problem("related_identifying.yaml")
    assert str(problem).startswith(
        located("related_identifying.yaml", "label:", "related-persons", "partner_initials")
    )
    assert "no identifying data" in problem.message
