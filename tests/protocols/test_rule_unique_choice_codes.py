"""[unique-choice-codes]: each choice code appears once in its list."""

from .support import DATA, only_problem


def test_a_repeated_choice_code_is_refused_at_the_repeat():
    problem = only_problem("duplicate_choice_code.yaml")
    text = (DATA / "duplicate_choice_code.yaml").read_text(encoding="utf-8").splitlines()
    line = [i for i, row in enumerate(text, 1) if "code: improved" in row][1]
    column = text[line - 1].index("code: improved") + 1
    assert str(problem).startswith(
        f"{DATA / 'duplicate_choice_code.yaml'}:{line}:{column}: [unique-choice-codes] "
        "field 'efficacy_global':"
    )
    assert "'improved' appears twice" in problem.message
