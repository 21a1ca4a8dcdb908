"""Pending reviews and placeholders: `protocol check` shows them, `protocol install` refuses
them until a person settles each one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from portal.audit.services import Actor
from portal.protocols.cli import protocol_cli
from portal.protocols.demo import DEMO_PROTOCOL
from portal.protocols.loader import ProtocolDefinitionError, load_path
from portal.protocols.models import ProtocolVersion
from portal.protocols.services import install_protocol

OPERATOR = Actor("cli", "cli:pharmacist")


def _fields(data: dict):
    for form in data["forms"]:
        for section in form["sections"]:
            yield from section["fields"]


def _field(data: dict, key: str) -> dict:
    return next(f for f in _fields(data) if f["key"] == key)


def _first_integer(data: dict) -> dict:
    return next(f for f in _fields(data) if f["type"] == "integer")


def _write(tmp_path: Path, change) -> Path:  # noqa: ANN001
    data = yaml.safe_load(DEMO_PROTOCOL.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return path


def _review(status: str | None = None, justification: str | None = None):
    def change(data: dict) -> None:
        fld = _first_integer(data)
        fld["label"] = {"fr": "Verres d'alcool par semaine", "en": "Alcohol drinks per week"}
        if status is not None:
            fld["review"] = {"reason": "the label reads like substance use data",
                             "status": status}
            if justification:
                fld["review"]["justification"] = justification
    return change


def test_a_keyword_match_without_review_is_still_a_finding(tmp_path):
    with pytest.raises(ProtocolDefinitionError, match="looks like substance use"):
        load_path(_write(tmp_path, _review()))


@pytest.mark.parametrize(("status", "justification"), [
    ("pending", None),
    ("confirmed", None),
    ("confirmed", "too short"),
])
def test_an_unsettled_review_passes_check_but_is_not_installed(db, tmp_path, status,
                                                                justification):
    path = _write(tmp_path, _review(status, justification))
    loaded = load_path(path)
    assert [w.rule for w in loaded.warnings] == ["review-pending"]
    result = CliRunner().invoke(protocol_cli, ["check", str(path)])
    assert result.exit_code == 0
    assert "warning: " in result.stderr and "[review-pending]" in result.stderr
    with pytest.raises(ProtocolDefinitionError, match="review-pending"):
        install_protocol(db, OPERATOR, path)
    assert db.scalar(select(ProtocolVersion)) is None


def test_a_confirmed_and_justified_review_installs(db, tmp_path):
    path = _write(tmp_path, _review(
        "confirmed", "The count is of the study drink supplement, not of alcohol use."))
    assert load_path(path).warnings == ()
    assert install_protocol(db, OPERATOR, path).created


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["product"].update(name="TO COMPLETE"), "'TO COMPLETE' is a placeholder"),
        (lambda d: d["ansm"].update(put_sp_reference="TO-COMPLETE"),
         "'TO-COMPLETE' is a placeholder"),
        (lambda d: d["indications"][0].update(label={"fr": "À compléter", "en": "To complete"}),
         "'À compléter' is a placeholder"),
        (lambda d: _first_integer(d).update(max=999999), "are a placeholder, not clinical"),
        (lambda d: _first_integer(d).update(min=-999999), "are a placeholder, not clinical"),
        (lambda d: _first_integer(d).update(
            label={"fr": "Number of previous treatments", "en": "Number of previous treatments"}),
         "the French text is the English one"),
    ],
)
def test_placeholders_are_flagged_by_check_and_refused_by_install(db, tmp_path, change,
                                                                   message):
    path = _write(tmp_path, change)
    warnings = load_path(path).warnings
    assert any(w.rule == "placeholder" and message in w.message for w in warnings), warnings
    result = CliRunner().invoke(protocol_cli, ["check", str(path)])
    assert result.exit_code == 0 and message in result.stderr
    with pytest.raises(ProtocolDefinitionError, match="placeholder"):
        install_protocol(db, OPERATOR, path)


def test_the_demo_has_no_warning():
    assert load_path(DEMO_PROTOCOL).warnings == ()


def test_a_same_text_in_both_languages_that_is_not_english_is_no_placeholder(tmp_path):
    path = _write(tmp_path, lambda d: _first_integer(d).update(
        label={"fr": "Score EVA", "en": "Score EVA"}))
    assert load_path(path).warnings == ()
