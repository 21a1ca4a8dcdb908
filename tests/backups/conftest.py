"""Backups fixtures: a portal holding every kind of record, and an empty database to restore to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import portal.backups.models  # noqa: F401 - tables on the metadata
import portal.notices.models  # noqa: F401
import portal.records.models  # noqa: F401
import portal.retention.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.retention.archive import create_archive_store
from tests.backups import helpers
from tests.conftest import fresh_database_url, make_test_config
from tests.helpers_auth import CHEAP_ARGON2
from tests.retention.archive_store import postgres_archive, reset_archive


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path, app_config: dict[str, object]) -> dict[str, object]:
    # Small chunks, so that even a small test database makes a file of many chunks.
    return {
        **app_config,
        "PASSWORD_HASHER": CHEAP_ARGON2,
        "BACKUP_DIR": str(tmp_path / "bak"),
        "BACKUP_CHUNK_SIZE": 4096,
        **postgres_archive(),
    }


@pytest.fixture(autouse=True)
def archive(app):  # noqa: ANN001, ANN201
    """Retention's archive store, created and empty: a restore re-applies purges there too."""
    create_archive_store(app)
    reset_archive(app)
    yield app
    reset_archive(app)


@pytest.fixture
def seeded(db: Session) -> helpers.Seeded:
    return helpers.seed(db)


@pytest.fixture
def target_url(tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of the same kind as the portal's (dropped afterwards)."""
    with fresh_database_url(tmp_path, "test_bak_restore") as url:
        yield url


__all__ = ["make_test_config"]
