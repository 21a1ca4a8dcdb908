"""[coded-value-bounded]: a coded value needs a declared list or a bounded pattern."""

from .support import located, only_problem


def test_an_unbounded_pattern_is_refused():
    problem = only_problem("coded_unbounded.yaml")
    assert str(problem).startswith(
        located("coded_unbounded.yaml", "pattern:", "coded-value-bounded", "lot_code")
    )
    assert "longer than 40" in problem.message
    assert "max_length" in problem.fix


def test_an_undeclared_code_list_is_refused():
    problem = only_problem("coded_unknown_list.yaml")
    assert str(problem).startswith(
        located("coded_unknown_list.yaml", "code_list:", "coded-value-bounded", "concomitant_atc")
    )
    assert "'atc_interactions' is not declared" in problem.message
