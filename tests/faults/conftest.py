"""The fault suite's world: a private PostgreSQL cluster, a private Redis, an SMTP server
(aiosmtpd), and two gunicorn instances of the portal on two ports, all on 127.0.0.1.

Nothing here touches the shared PostgreSQL (5432) or Redis (6379): other tests use them at the
same time, and these servers are stopped and restarted on purpose. Run it with
`pytest -m faults tests/faults` (the ordinary run leaves the `faults` marker out).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

import portal.models  # noqa: F401 - every table on the metadata
from portal import clock, create_app
from portal.db import Base, get_engine, new_session
from portal.sealing import check_keys_against_database
from tests.clock_starts import START_UTC
from tests.conftest import make_test_config
from tests.faults.world import Instance, Smtp, World
from tests.private_servers import PrivatePostgres, PrivateRedis, postgres_bin, redis_available
from tests.records import helpers

#: the secret both instances sign their cookies with (a cookie works on either)
SECRET = "f" * 48
#: what the tests set up happens this long before the servers' time (see `test_clock`)
SETUP_LEAD = timedelta(minutes=10)
_SUITE_START = time.monotonic()


@pytest.fixture(autouse=True)
def test_clock() -> Iterator[datetime]:
    """The tests' clock runs on across the suite, SETUP_LEAD behind the servers' clocks.

    What the tests create (grants, sessions, patients) is dated before the servers' time, so
    that every worker sees it as done, and the clock moves forward from one test to the next
    (a grant made by one test is valid in the next; the ordinary suite starts every test at
    the same time). The suite must stay shorter than SETUP_LEAD; sessions stay far from their
    30 minutes of idle time. The servers' workers share one timeline (gunicorn_clock.py).
    """
    at = START_UTC - SETUP_LEAD + timedelta(seconds=time.monotonic() - _SUITE_START)
    with clock.running_from(at):
        yield at


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> Iterator[World]:
    """Start every server once for the suite; stop and remove them all at the end."""
    if postgres_bin() is None:
        pytest.skip("the fault suite needs PostgreSQL's server programs (initdb, pg_ctl)")
    if not redis_available():
        pytest.skip("the fault suite needs redis-server")
    root = tmp_path_factory.mktemp("faults")
    postgres = PrivatePostgres()
    redis = PrivateRedis()
    smtp = Smtp()
    instances: list[Instance] = []
    try:
        postgres.start()
        redis.start()
        smtp.start()
        config = make_test_config(root, key_file, DATABASE_URL=postgres.url,
                                  RATELIMIT_STORAGE_URI=redis.url, MAIL_URL=smtp.url,
                                  SECRET_KEY=SECRET, OUTBOX_RETRY_SECONDS=1)
        os.environ["PORTAL_INSTANCE_PATH"] = str(root / "instance")
        app = create_app(config)
        Base.metadata.create_all(get_engine(app))
        with new_session(app) as session:
            check_keys_against_database(session, app.extensions["portal.keys"])
            helpers.install_demo(session)
            site = helpers.site(session, helpers.FINESS_A, "Centre hospitalier Alpha")
            session.commit()
        env = {
            "PORTAL_ENV": "testing", "PORTAL_INSTANCE_PATH": str(root / "instance"),
            "PORTAL_SECRET_KEY": SECRET, "PORTAL_KEY_FILE": str(key_file),
            "PORTAL_DATABASE_URL": postgres.url, "PORTAL_RATELIMIT_STORAGE_URI": redis.url,
            "PORTAL_MAIL_URL": smtp.url, "PORTAL_OUTBOX_RETRY_SECONDS": "1",
            # This server is restarted on purpose: every commit waits for its WAL flush, as
            # in production (tests/conftest.py turns that off for the shared test server).
            "PGOPTIONS": "-c synchronous_commit=on",
        }
        # The servers' clock runs from the tests' start, as the tests' own clock does.
        launched = time.monotonic()
        with clock.running_from(START_UTC):
            for _n in range(2):
                instances.append(Instance(env, root))
            for instance in instances:
                instance.wait_until_up()
        yield World(app=app, postgres=postgres, redis=redis, smtp=smtp, instances=instances,
                    env=env, site_id=site.id, root=root, launched=launched)
    finally:
        for instance in instances:
            instance.stop()
        smtp.stop()
        redis.stop()
        postgres.destroy()
        os.environ.pop("PORTAL_INSTANCE_PATH", None)


@pytest.fixture
def app(world: World) -> Flask:
    return world.app


@pytest.fixture
def db(world: World) -> Iterator[Session]:
    session = new_session(world.app)
    yield session
    session.rollback()
    session.close()
