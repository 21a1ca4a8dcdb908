"""[unique-keys]: a key names one field of a form (keys are stored with submissions)."""

from .support import DATA, only_problem, position


def test_a_second_field_with_the_same_key_is_refused_where_it_repeats():
    problem = only_problem("duplicate_key.yaml")
    line, column = position("duplicate_key.yaml", "key: visit_date")
    text = (DATA / "duplicate_key.yaml").read_text(encoding="utf-8").splitlines()
    second = next(i for i, row in enumerate(text, 1) if "key: visit_date" in row and i > line)
    assert str(problem).startswith(
        f"{DATA / 'duplicate_key.yaml'}:{second}:{column}: [unique-keys] field 'visit_date':"
    )
