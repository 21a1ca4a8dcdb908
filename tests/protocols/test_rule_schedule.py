"""[schedule]: forms are due at declared timepoints."""

from .support import located, only_problem


def test_an_unknown_timepoint_is_refused():
    problem = only_problem("schedule_unknown_timepoint.yaml")
    assert str(problem).startswith(
        located("schedule_unknown_timepoint.yaml", "M1]", "schedule")
    )
    assert "unknown timepoint 'M1'" in problem.message
