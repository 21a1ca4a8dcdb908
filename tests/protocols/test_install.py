"""Installing protocol versions: content hash, who and when, refusal of breaking versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.protocols.demo import DEMO_PROTOCOL
from portal.protocols.loader import ProtocolDefinitionError
from portal.protocols.models import ProtocolVersion
from portal.protocols.services import (
    breaking_changes,
    current_version,
    install_protocol,
    loaded,
)

OPERATOR = Actor("cli", "cli:pharmacist")


def _variant(tmp_path: Path, change) -> Path:  # noqa: ANN001
    """Write the demo definition after `change` to a temporary file."""
    data = yaml.safe_load(DEMO_PROTOCOL.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_install_records_hash_who_and_when_and_is_idempotent(db) -> None:  # noqa: ANN001
    first = install_protocol(db, OPERATOR, DEMO_PROTOCOL)
    db.commit()
    again = install_protocol(db, OPERATOR, DEMO_PROTOCOL)
    assert first.created and not again.created
    version = current_version(db)
    assert version is not None and version.id == first.version.id
    assert len(version.content_hash) == 64
    assert version.installed_by_label == "cli:pharmacist"
    assert version.installed_at.tzinfo is not None
    assert loaded(version).definition.key == version.protocol_key
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "protocols:version:install"))


def test_a_definition_breaking_a_rule_cannot_be_installed(db, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nkey: x\n", encoding="utf-8")
    with pytest.raises(ProtocolDefinitionError):
        install_protocol(db, OPERATOR, bad)
    assert db.scalar(select(ProtocolVersion)) is None


def test_a_new_version_supersedes_the_previous_one(db, tmp_path: Path) -> None:  # noqa: ANN001
    install_protocol(db, OPERATOR, DEMO_PROTOCOL)
    newer = _variant(tmp_path, lambda d: d.update(version=str(d["version"]) + "-b"))
    installed = install_protocol(db, OPERATOR, newer)
    assert current_version(db).id == installed.version.id
    assert db.scalar(select(ProtocolVersion).where(ProtocolVersion.is_current.is_(False)))


def test_breaking_changes_list_removed_and_retyped_fields_and_choices(tmp_path: Path) -> None:
    from portal.protocols.loader import load_path

    old = load_path(DEMO_PROTOCOL).definition
    data = yaml.safe_load(DEMO_PROTOCOL.read_text(encoding="utf-8"))
    form = next(f for f in data["forms"] if f["key"] == "adverse_event")
    # Drop the last field of the last section (nothing refers to it) and one choice elsewhere.
    section = form["sections"][-1]
    victim = section["fields"].pop()["key"]
    choice_field = next(
        fd for s in form["sections"] for fd in s["fields"]
        if fd["type"] == "single_choice" and len(fd["choices"]) > 2
    )
    removed_code = choice_field["choices"].pop()["code"]
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    new = load_path(path).definition
    breaks = breaking_changes(old, new, {"adverse_event"})
    assert f"adverse_event.{victim}: field removed" in breaks
    assert f"adverse_event.{choice_field['key']}: choice {removed_code} removed" in breaks
    assert breaking_changes(old, new, set()) == []


def test_cli_install_then_check(runner, tmp_path: Path) -> None:  # noqa: ANN001
    result = runner.invoke(args=["protocol", "install", str(DEMO_PROTOCOL)])
    assert result.exit_code == 0, result.output
    assert "now in force" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 2\n", encoding="utf-8")
    refused = runner.invoke(args=["protocol", "install", str(bad)])
    assert refused.exit_code != 0
    assert "bad.yaml:1:" in refused.output
