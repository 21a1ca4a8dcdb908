"""The `protocol` command group, driven like a user at a terminal."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from portal.protocols.cli import protocol_cli

from .support import DATA, DEMO


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(protocol_cli, [str(a) for a in args])

    return invoke


def test_schema_prints_the_json_schema(run, tmp_path):
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "AAC Portal PUT-SP protocol definition"
    assert run("schema", "-o", tmp_path / "s.json").exit_code == 0
    assert json.loads((tmp_path / "s.json").read_text())["$defs"]


def test_check_accepts_the_demo(run):
    result = run("check", DEMO)
    assert result.exit_code == 0
    assert "put-sp-demo.yaml: OK (put_sp_xyz123 v1.0, sha256 " in result.output


def test_check_fails_with_located_errors(run):
    result = run("check", DEMO, DATA / "free_text_type.yaml")
    assert result.exit_code == 1
    assert f"{DATA / 'free_text_type.yaml'}:29:13: [no-free-text] field 'comment':" in \
        result.stderr
    assert "1 of 2 definition(s) cannot be installed" in result.stderr


def test_check_reads_every_definition_of_a_folder(run):
    result = run("check", DATA)
    assert result.exit_code == 1
    assert "valid.json: OK" in result.output
    assert "[schema-version]" in result.stderr


def test_import_redcap_writes_a_definition_that_passes_check(run, tmp_path):
    out = tmp_path / "redcap.yaml"
    result = run("import-redcap", DATA / "redcap" / "followup_ui.csv", "--events",
                 DATA / "redcap" / "events.csv", "-o", out)
    assert result.exit_code == 0, result.output
    assert "rejected  baseline.comments (line 12)" in result.output
    assert "13 imported, 15 converted, 14 rejected" in result.output
    assert run("check", out).exit_code == 0


def test_strict_import_fails_on_a_rejection_and_writes_nothing(run, tmp_path):
    out = tmp_path / "strict.yaml"
    result = run("import-redcap", DATA / "redcap" / "followup_ui.csv", "-o", out, "--strict")
    assert result.exit_code == 1
    assert "14 field(s) rejected; nothing written (--strict)" in result.stderr
    assert not out.exists()


def test_import_odm_writes_a_definition_that_passes_check(run, tmp_path):
    out = tmp_path / "odm.yaml"
    result = run("import-odm", DATA / "odm" / "study.xml", "-o", out)
    assert result.exit_code == 0, result.output
    assert "rejected  initiation.comment" in result.output
    assert run("check", out).exit_code == 0
    assert run("import-odm", DATA / "odm" / "study.xml", "-o", out, "--strict").exit_code == 1


def test_malformed_input_is_an_error_message_not_a_traceback(run, tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<?xml version='1.0'?>\n<ODM>\n<Study>\n</ODM>\n")
    result = run("import-odm", broken, "-o", tmp_path / "x.yaml")
    assert result.exit_code == 1
    assert f"{broken}:4: XML is not well-formed" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
