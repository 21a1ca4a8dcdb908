"""[put-ref-required] (PUT-02): every field is traced to a PUT-SP section."""

from .support import located, only_problem


def test_a_field_without_put_ref_is_refused_at_the_field():
    problem = only_problem("put_ref_missing.yaml")
    assert str(problem).startswith(
        located("put_ref_missing.yaml", "key: weight_kg", "put-ref-required", "weight_kg")
    )
    assert "put_ref" in problem.fix
