"""Retention fixtures: the records demo protocol and sites, a patient with dated AAC evidence."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

import portal.records.models  # noqa: F401 - tables on the metadata
import portal.retention.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.retention.archive import create_archive_store
from tests.records.fixtures import (  # noqa: F401 - fixtures
    prescriber,
    protocol,
    site_a,
)
from tests.retention.archive_store import postgres_archive, reset_archive


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path, app_config: dict[str, object]
               ) -> dict[str, object]:
    config = dict(app_config)
    config.update(postgres_archive())
    return config


@pytest.fixture
def archive(app):  # noqa: ANN001, ANN201
    """The archive store, created and empty."""
    create_archive_store(app)
    reset_archive(app)
    yield app
    reset_archive(app)


GRANTED = date(2027, 1, 10)
ENDS = date(2027, 12, 31)
