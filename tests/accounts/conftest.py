"""Accounts tests: cheap argon2 parameters (one test checks the production defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path) -> dict[str, object]:
    # RATELIMIT_ENABLED explicitly: Flask-Limiter's one extension object keeps a False set by
    # any earlier app of the process (config.setdefault in Limiter.init_app).
    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2,
                            RATELIMIT_ENABLED=True)


@pytest.fixture(autouse=True)
def _only_our_gates(request):  # noqa: ANN001, ANN202
    # Other areas' first-page gates (the transparency notice) are tested by those areas; these
    # tests check the accounts machinery itself, and test_gates.py the gate mechanism.
    from portal.accounts.authorization import _GATES

    if "app" in request.fixturenames:
        request.getfixturevalue("app").extensions[_GATES] = []
    yield
