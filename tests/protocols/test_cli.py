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
    assert "12 imported, 17 converted, 1 to review, 12 rejected" in result.output
    checked = run("check", out)
    assert checked.exit_code == 0
    assert "[review-pending] field 'smoking': to review" in checked.stderr
    assert "[placeholder]" in checked.stderr and "point(s) to settle before" in checked.output


def test_strict_import_fails_on_a_rejection_and_writes_nothing(run, tmp_path):
    out = tmp_path / "strict.yaml"
    result = run("import-redcap", DATA / "redcap" / "followup_ui.csv", "-o", out, "--strict")
    assert result.exit_code == 1
    assert "12 field(s) rejected; nothing written (--strict)" in result.stderr
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


def test_conversions_need_no_database_no_key_file_and_no_configuration(tmp_path, monkeypatch):
    from portal.cli import cli

    # A production environment that could not start the portal: no secret, no key file, no
    # reachable database. The conversions and `check` are pure file work and still run.
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_KEY_FILE", str(tmp_path / "absent.keys"))
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    runner = CliRunner()
    out = tmp_path / "r.yaml"
    result = runner.invoke(cli, ["protocol", "import-redcap",
                                 str(DATA / "redcap" / "enrolment_api.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["protocol", "import-odm", str(DATA / "odm" / "study.xml"),
                                 "-o", str(tmp_path / "o.yaml")])
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli, ["protocol", "check", str(out)]).exit_code == 0
    # Installing does need the portal, and says why it cannot start.
    result = runner.invoke(cli, ["protocol", "install", str(out)])
    assert result.exit_code == 1 and "PORTAL_SECRET_KEY" in result.output
