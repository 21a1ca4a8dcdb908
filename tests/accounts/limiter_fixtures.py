"""The limiter tests' fixtures: each test runs on memory:// and on Redis, under its own key prefix.

Imported by the test modules that check limits (`from ... import app_config, own_key_prefix`),
so that both storages are exercised the same way.
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def app_config(request, app_config):  # noqa: ANN001, ANN201
    if request.param == "memory":
        return app_config
    if not REDIS_URL:
        pytest.skip("Redis not configured: set PORTAL_TEST_REDIS_URL to run the limits, "
                    "lockouts and hashing budget against Redis")
    # A fresh key prefix per test: Redis keeps counters and slots between tests.
    return {**app_config, "RATELIMIT_STORAGE_URI": REDIS_URL,
            "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}"}


@pytest.fixture(autouse=True)
def own_key_prefix(request):  # noqa: ANN001, ANN201
    # Flask-Limiter keeps the first key prefix it was given for the life of its one extension
    # object (`self._key_prefix or config...`); give this test's app its own.
    from portal.extensions import limiter

    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    previous = limiter._key_prefix
    limiter._key_prefix = app.config.get("RATELIMIT_KEY_PREFIX", "")
    yield
    limiter._key_prefix = previous
