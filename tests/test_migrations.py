"""Every schema change is a migration: an empty database upgraded to head matches the models."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import SAWarning

import portal.models  # noqa: F401
from portal import create_app, migrate
from portal.db import Base, get_engine
from tests.conftest import POSTGRES_URL, fresh_database_url, make_test_config


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set PORTAL_TEST_DATABASE_URL (see .ci/run)")
    with fresh_database_url(tmp_path, "portal_migration") as url:
        yield url


def _app(url: str, tmp_path, key_file, monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app(make_test_config(tmp_path, key_file, DATABASE_URL=url))


def test_upgrade_of_an_empty_database_matches_the_models(
    empty_database_url, tmp_path, key_file, monkeypatch
) -> None:
    app = _app(empty_database_url, tmp_path, key_file, monkeypatch)
    migrate.upgrade(app)
    engine = get_engine(app)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        with warnings.catch_warnings():
            # SQLite's reflection does not read indexes on expressions (the people list's
            # lower(name) prefixes): their presence is checked by name below.
            warnings.filterwarnings("ignore", category=SAWarning,
                                    message="Skipped unsupported reflection of expression-based")
            warnings.filterwarnings("ignore", category=UserWarning,
                                    message="autogenerate skipping metadata-specified expression")
            differences = compare_metadata(context, Base.metadata)
        if connection.dialect.name == "sqlite":
            present = set(connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
        else:
            present = set(connection.execute(text("SELECT indexname FROM pg_indexes")).scalars())
    assert differences == [], f"models and migrations differ: {differences}"
    declared = {index.name for table in Base.metadata.tables.values() for index in table.indexes}
    assert declared <= present, f"indexes missing: {declared - present}"
    assert migrate.current_revision(app) == migrate.head_revision(app)
    engine.dispose()


def test_downgrade_to_base_then_upgrade_again(
    empty_database_url, tmp_path, key_file, monkeypatch
) -> None:
    app = _app(empty_database_url, tmp_path, key_file, monkeypatch)
    migrate.upgrade(app)
    migrate.downgrade(app, "base")
    tables = set(inspect(get_engine(app)).get_table_names()) - {"alembic_version"}
    assert tables == set()
    migrate.upgrade(app)
    assert set(Base.metadata.tables) <= set(inspect(get_engine(app)).get_table_names())
    get_engine(app).dispose()


def test_revision_files_are_date_prefixed() -> None:
    files = sorted(p.name for p in migrate.MIGRATIONS.joinpath("versions").glob("*.py"))
    assert files, "no migration found"
    for name in files:
        assert name[:8].isdigit() and name[8] == "_", name
