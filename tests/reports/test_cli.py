"""`portal report plan/list/submitted/approved/generate`."""

from __future__ import annotations

from pathlib import Path

from tests.records import helpers
from tests.reports.conftest import LOCK


def test_generate_writes_the_files_and_list_shows_the_calendar(
    cohort, runner, tmp_path: Path
) -> None:
    out = tmp_path / "report-1"
    result = runner.invoke(
        args=[
            "report",
            "generate",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--output",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "32 forms read" in result.output
    assert (out / "rapport.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "csv" / "sex_cumul.csv").exists()
    listed = runner.invoke(args=["report", "list"])
    assert f"{helpers.PROTOCOL_KEY} #1: " in listed.output
    assert f"to {LOCK.isoformat()}" in listed.output


def test_the_calendar_commands_refuse_bad_input_clearly(cohort, runner) -> None:
    bad_date = runner.invoke(
        args=[
            "report",
            "generate",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            "31/12/2026",
            "--output",
            "x",
        ]
    )
    assert bad_date.exit_code == 2
    assert "'31/12/2026' is not a date written YYYY-MM-DD" in bad_date.output
    unknown = runner.invoke(
        args=[
            "report",
            "generate",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            "2020-01-01",
            "--output",
            "x",
        ]
    )
    assert unknown.exit_code == 1
    assert "no report of put_sp_xyz123 has its data lock on 2020-01-01" in unknown.output
    early = runner.invoke(
        args=[
            "report",
            "approved",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--on",
            LOCK.isoformat(),
            "--reference",
            "A-1",
        ]
    )
    assert "has not been submitted to ANSM" in early.output
    sent = runner.invoke(
        args=[
            "report",
            "submitted",
            helpers.PROTOCOL_KEY,
            "--data-lock",
            LOCK.isoformat(),
            "--on",
            "2099-01-02",
            "--reference",
            "S-1",
        ]
    )
    assert sent.exit_code == 0, sent.output
    planned = runner.invoke(args=["report", "plan", helpers.PROTOCOL_KEY])
    assert planned.exit_code == 0, planned.output
    assert f"{helpers.PROTOCOL_KEY} #2 planned" in planned.output
    assert "submitted 2099-01-02 (S-1)" in runner.invoke(args=["report", "list"]).output
