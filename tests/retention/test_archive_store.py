"""RET-02: the archive is a store apart: another file on SQLite, its own schema and role."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import ProgrammingError

from portal.db import get_engine
from portal.retention.archive import archive_engine
from tests.conftest import POSTGRES_URL
from tests.retention.archive_store import role_names, url_as


@pytest.mark.skipif(bool(POSTGRES_URL), reason="the SQLite layout")
def test_on_sqlite_the_archive_is_another_file(app, archive) -> None:
    assert app.config["RETENTION_ARCHIVE_URL"] != app.config["DATABASE_URL"]
    assert app.config["RETENTION_ARCHIVE_URL"].endswith("portal-archive.db")
    assert "archived_case" not in inspect(get_engine(app)).get_table_names()
    assert "archived_case" in inspect(archive_engine(app)).get_table_names()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (PORTAL_TEST_DATABASE_URL)")
def test_the_web_role_gets_a_permission_error_reading_the_archive(app, archive) -> None:
    archivist, web = role_names()
    engine = create_engine(url_as(web))
    try:
        with engine.connect() as connection:
            # The web role reads the active base...
            connection.execute(text("SELECT count(*) FROM public.patient")).scalar()
        with engine.connect() as connection, pytest.raises(ProgrammingError,
                                                            match="permission denied"):
            connection.execute(text("SELECT count(*) FROM archive.archived_case"))
    finally:
        engine.dispose()
    with archive_engine(app).connect() as connection:
        assert connection.execute(text("SELECT current_user")).scalar() == archivist
        assert connection.execute(text("SELECT count(*) FROM archive.archived_case")).scalar() == 0
