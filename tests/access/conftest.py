"""Fixtures of the access tests: two administrators (for maker-checker) and an establishment."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.access.helpers import make_admin, make_establishment
from tests.access.login import ensure_authorizer
from tests.conftest import make_test_config


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path) -> dict[str, object]:
    """Cheap argon2, for the tests that log in through the real forms."""
    from tests.helpers_auth import CHEAP_ARGON2

    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2)


@pytest.fixture
def app(app: Flask) -> Flask:
    """The portal, with the accounts area's authorizer even before the area wires itself in."""
    ensure_authorizer(app)
    return app


@pytest.fixture
def admin(db: Session):  # noqa: ANN201
    return make_admin(db, "alice.admin")


@pytest.fixture
def admin2(db: Session):  # noqa: ANN201
    return make_admin(db, "bruno.admin")


@pytest.fixture
def establishment(db: Session):  # noqa: ANN201
    return make_establishment(db)
