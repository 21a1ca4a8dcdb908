"""The archive store in tests: a file beside the SQLite database, or PostgreSQL's own schema.

On PostgreSQL the archive schema is owned by its own role (`<database>_archivist`), and a web
role (`<database>_web`) is given the public schema only, as in production; role names carry the
test database's name so that parallel runs on one server do not share them.
"""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.engine import make_url

from portal.db import make_engine
from portal.retention.archive import archive_engine, archive_metadata
from tests.conftest import POSTGRES_URL


def role_names() -> tuple[str, str]:
    database = make_url(POSTGRES_URL).database or "portal"
    return f"{database}_archivist", f"{database}_web"


def url_as(role: str) -> str:
    return make_url(POSTGRES_URL).set(username=role).render_as_string(hide_password=False)


def postgres_archive() -> dict[str, object]:
    """The settings pointing the archive at its own role; {} on SQLite."""
    if not POSTGRES_URL:
        return {}
    archivist, web = role_names()
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        for role in (archivist, web):
            exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                                        {"r": role}).first()
            if exists is None:
                connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        connection.exec_driver_sql(
            f'CREATE SCHEMA IF NOT EXISTS archive AUTHORIZATION "{archivist}"')
        connection.exec_driver_sql(f'REVOKE ALL ON SCHEMA archive FROM PUBLIC, "{web}"')
        connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{web}"')
        connection.exec_driver_sql(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{web}"')
    engine.dispose()
    return {"RETENTION_ARCHIVE_URL": url_as(archivist)}


def reset_archive(app) -> None:  # noqa: ANN001
    with archive_engine(app).begin() as connection:
        for table in archive_metadata.sorted_tables:
            connection.execute(delete(table))
