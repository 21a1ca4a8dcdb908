"""The migration adding the research register keeps the versions append-only and the kinds
closed (b8d4f2a6c913: SQLite rebuilds the table, which drops its triggers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from portal import create_app, migrate
from portal.db import get_engine
from tests.conftest import POSTGRES_URL, fresh_database_url, make_test_config

INSERT = text("INSERT INTO register_version (kind, item_no, number, status, data, created_at, "
              "author_label) VALUES (:kind, 1, 1, 'active', '{}', '2027-06-02 10:00:00', 'cli')")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set PORTAL_TEST_DATABASE_URL (see .ci/run)")
    with fresh_database_url(tmp_path, "portal_research_migration") as url:
        yield url


def test_the_upgraded_register_takes_research_and_stays_append_only(
        empty_database_url, tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(make_test_config(tmp_path, key_file, DATABASE_URL=empty_database_url))
    migrate.upgrade(app)
    engine = get_engine(app)
    with engine.begin() as connection:
        connection.execute(INSERT, {"kind": "research"})
    for statement, values in ((INSERT, {"kind": "guess"}),
                              (text("UPDATE register_version SET status = 'withdrawn'"), {}),
                              (text("DELETE FROM register_version"), {})):
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(statement, values)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT kind, status FROM register_version")).all() == [
            ("research", "active")]
    engine.dispose()
