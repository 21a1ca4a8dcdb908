"""The version in force is kept a few seconds per process: fresh after an install, never an
object of another session, stale for at most `IN_FORCE_SECONDS` after another process's change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import event, update

from portal import create_app, in_force
from portal.audit.services import Actor
from portal.db import get_engine, new_session
from portal.protocols.demo import DEMO_PROTOCOL
from portal.protocols.models import ProtocolVersion
from portal.protocols.services import install_protocol
from portal.records.versions import in_force as version_in_force

OPERATOR = Actor("cli", "cli:pharmacist")


def _newer(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEMO_PROTOCOL.read_text(encoding="utf-8"))
    data["version"] = str(data["version"]) + "-b"
    path = tmp_path / "newer.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@contextmanager
def counted_selects(app: Flask) -> Iterator[list[str]]:
    """Collect the SELECT statements run on the app's engine."""
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


@pytest.fixture
def installed(app: Flask) -> ProtocolVersion:
    with new_session(app) as db:
        version = install_protocol(db, OPERATOR, DEMO_PROTOCOL).version
        db.commit()
        return version


def test_a_second_session_gets_its_own_instance_without_a_query(app: Flask, installed) -> None:  # noqa: ANN001
    key = installed.protocol_key
    with new_session(app) as first:
        assert version_in_force(first, key).id == installed.id
    with new_session(app) as second, counted_selects(app) as selects:
        version = version_in_force(second, key)
        assert selects == []
        assert version in second and version.content_hash == installed.content_hash
        assert version.installed_at.tzinfo is not None
        # The definition text was left out of the kept copy: it loads on first use.
        assert "schema_version" in version.source_text
        assert len(selects) == 1
        # Asking again in the same session gives the same instance.
        assert version_in_force(second, key) is version


def test_an_install_is_seen_at_once_by_its_session_and_after_commit_by_all(
        app: Flask, installed, tmp_path: Path) -> None:  # noqa: ANN001
    key = installed.protocol_key
    with new_session(app) as db:
        assert version_in_force(db, key).id == installed.id
    with new_session(app) as writer:
        newer = install_protocol(writer, OPERATOR, _newer(tmp_path)).version
        assert version_in_force(writer, key).id == newer.id
        with new_session(app) as other:
            # Not committed yet: others still see the version in force.
            assert version_in_force(other, key).id == installed.id
        writer.commit()
    with new_session(app) as db:
        assert version_in_force(db, key).id == newer.id


def test_a_rolled_back_install_leaves_the_version_in_force(
        app: Flask, installed, tmp_path: Path) -> None:  # noqa: ANN001
    key = installed.protocol_key
    with new_session(app) as writer:
        install_protocol(writer, OPERATOR, _newer(tmp_path))
        writer.rollback()
    with new_session(app) as db:
        assert version_in_force(db, key).id == installed.id


def test_a_change_made_elsewhere_is_seen_once_the_copy_expires(
        app: Flask, app_config: dict[str, object], installed, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    key = installed.protocol_key
    with new_session(app) as db:
        version_in_force(db, key)
    # Another process (another worker, the shell) installs: same database, another app.
    other = create_app(app_config)
    with new_session(other) as db:
        newer = install_protocol(db, OPERATOR, _newer(tmp_path)).version
        db.commit()
    get_engine(other).dispose()
    clock = [in_force.time.monotonic()]
    monkeypatch.setattr(in_force.time, "monotonic", lambda: clock[0])
    with new_session(app) as db:
        assert version_in_force(db, key).id == installed.id
    clock[0] += app.config.get("IN_FORCE_SECONDS", 5) + 0.1
    with new_session(app) as db:
        assert version_in_force(db, key).id == newer.id


def test_a_protocol_without_a_version_is_not_found_and_that_is_kept_too(app: Flask) -> None:
    with new_session(app) as db:
        assert version_in_force(db, "no_such_protocol") is None
    with new_session(app) as db, counted_selects(app) as selects:
        assert version_in_force(db, "no_such_protocol") is None
        assert selects == []


def test_a_direct_change_in_this_process_is_not_seen_before_expiry(
        app: Flask, installed, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Only the services clear the copy: a raw UPDATE (what another process does) waits for
    the expiry, which bounds how stale a page can be."""
    key = installed.protocol_key
    with new_session(app) as db:
        version_in_force(db, key)
        db.execute(update(ProtocolVersion).values(is_current=False))
        db.commit()
    clock = [in_force.time.monotonic()]
    monkeypatch.setattr(in_force.time, "monotonic", lambda: clock[0])
    with new_session(app) as db:
        assert version_in_force(db, key) is not None
    clock[0] += app.config.get("IN_FORCE_SECONDS", 5) + 0.1
    with new_session(app) as db:
        assert version_in_force(db, key) is None
