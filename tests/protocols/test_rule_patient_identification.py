"""[patient-identification] (referential 7.2 a): initials 3+2, sex, weight, height, age or
month/year of birth; nothing else identifies the patient."""

from .support import located, only_problem


def test_a_patient_name_is_refused():
    problem = only_problem("patient_name.yaml")
    assert str(problem).startswith(
        located("patient_name.yaml", "label:", "patient-identification", "patient_name")
    )
    assert "first 3 letters of the surname" in problem.message


def test_surname_initials_longer_than_three_letters_are_refused():
    problem = only_problem("patient_initials_too_long.yaml")
    assert str(problem).startswith(
        located("patient_initials_too_long.yaml", "pattern:", "patient-identification",
                "pat_surname")
    )
    assert "limited to 3 letters" in problem.message
