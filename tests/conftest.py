"""Fixtures: an app on SQLite (default) or PostgreSQL (PORTAL_TEST_DATABASE_URL), clients.

Each SQLite test gets a fresh database file. On PostgreSQL the schema is created once per run
and every table is emptied after each test.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.routing import rules as werkzeug_rules

import portal.models  # noqa: F401 - every table on the metadata
from portal import clock, create_app
from portal.db import Base, get_engine, make_engine, new_session
from portal.keys import new_keyring, write_key_file
from portal.sealing import check_keys_against_database
from tests.clock_starts import MODULE_LEAD, SESSION_LEAD, START, START_NAME, START_UTC

CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
POSTGRES_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
if POSTGRES_URL and "synchronous_commit" not in os.environ.get("PGOPTIONS", ""):
    # The tests commit thousands of times and never crash the test server: a commit need not
    # wait for its WAL flush (libpq reads PGOPTIONS: the portal, gunicorn and pg_dump started by
    # the tests too). Production keeps the server's setting; a test that stops a server of its
    # own (tests/faults) sets its own options.
    os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") +
                               " -c synchronous_commit=off").strip()


def _share_compiled_url_builders() -> None:
    """Every test builds its own app, and Werkzeug compiles two URL builders per route from
    generated Python source: two thirds of `create_app`'s time. A builder depends only on the
    route's parts, its constant defaults and `append_unknown` (it reads the converters through
    `self` when called), so the test process compiles each shape once and binds it per rule."""
    compile_builder = getattr(werkzeug_rules.Rule, "_compile_builder", None)
    if compile_builder is None:
        return  # another Werkzeug: every app compiles its own, as in production
    compiled: dict[tuple[object, ...], object] = {}

    def shared(self: werkzeug_rules.Rule, append_unknown: bool = True):  # noqa: ANN202
        defaults = self.defaults or {}
        constants = tuple(sorted(
            (name, self._converters[name].to_url(value))
            for name, value in defaults.items() if name in self._converters))
        key = (tuple(self._trace), append_unknown, constants)
        if key not in compiled:
            compiled[key] = compile_builder(self, append_unknown)
        return compiled[key]

    werkzeug_rules.Rule._compile_builder = shared


_share_compiled_url_builders()


def pytest_report_header(config: pytest.Config) -> str:
    database = POSTGRES_URL or "SQLite (a fresh file per test)"
    return (
        f"AAC Portal test database: {database}; Redis: {REDIS_URL or 'not set'}; "
        f"clock starts on {START_NAME}: {START.isoformat()} "
        f"({START.astimezone(UTC).isoformat()})"
    )


@pytest.fixture(scope="session", autouse=True)
def suite_clock() -> Iterator[datetime]:
    """What a session-wide fixture sets up happens the day before the tests' start."""
    with clock.running_from(START_UTC - SESSION_LEAD):
        yield START_UTC - SESSION_LEAD


@pytest.fixture(scope="module", autouse=True)
def module_clock() -> Iterator[datetime]:
    """What a module-wide fixture sets up happens an hour before the tests' start."""
    with clock.running_from(START_UTC - MODULE_LEAD):
        yield START_UTC - MODULE_LEAD


@pytest.fixture(autouse=True)
def test_clock() -> Iterator[datetime]:
    """Every test starts on the same chosen date (tests/clock_starts.py), never on today's.

    It is given in UTC, as the portal stores times: adding a day to it adds 24 hours, even on a
    day when Paris changes its clocks (arithmetic on a Europe/Paris time would not).
    """
    with clock.running_from(START_UTC):
        yield START_UTC


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "portal.keys"
    write_key_file(path, new_keyring())
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str | None]:
    """Create the schema once on PostgreSQL; None on SQLite."""
    if not POSTGRES_URL:
        yield None
        return
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            Base.metadata.create_all(connection)
    except Exception as exc:  # noqa: BLE001
        pytest.exit(f"PostgreSQL at {POSTGRES_URL} is not usable: {exc}", returncode=3)
    yield POSTGRES_URL
    engine.dispose()


def _empty_postgres(app: Flask | None = None) -> None:
    """Delete every row and restart the id sequences, so that each test starts from nothing.

    Faster than TRUNCATE on many small tables, which rewrites each table's files. The replica
    role switches triggers off for this transaction (foreign keys and the audit trail's
    append-only trigger): this is test-only cleanup, never done by the portal.
    """
    engine = get_engine(app) if app is not None else make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(text(
            "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false) "
            "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
        ))
    if app is None:
        engine.dispose()


_SQLITE_SCHEMA: list[bytes] = []


def _sqlite_schema() -> bytes:
    """The bytes of an empty SQLite database holding the whole schema, built once per process:
    each test's fresh file starts as a copy (creating every table and trigger per test costs
    more than most tests do)."""
    if not _SQLITE_SCHEMA:
        path = Path(tempfile.mkdtemp(prefix="portal-schema-")) / "schema.db"
        engine = make_engine(f"sqlite:///{path}")
        Base.metadata.create_all(engine)
        engine.dispose()
        _SQLITE_SCHEMA.append(path.read_bytes())
    return _SQLITE_SCHEMA[0]


def _lay_sqlite_schema(app: Flask) -> bool:
    """Turn the app's SQLite file into a copy of the schema if it holds no table yet (owner-only,
    as the portal creates it). False when the database is not such a file."""
    engine = get_engine(app)
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or (
            database.startswith("file:")):
        return False
    engine.dispose()
    path = Path(database)
    if path.exists():
        with sqlite3.connect(path) as connection:
            if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                return False
        connection.close()
    for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):
        leftover.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(_sqlite_schema())
    return True


@contextmanager
def app_database(app: Flask) -> Iterator[Flask]:
    """Give a test app its tables, and leave them empty after it.

    SQLite: create the schema in the app's own file (and record the key check values, as a
    started portal would). PostgreSQL: the schema exists once per run (`postgres_schema`);
    every row is deleted afterwards.
    """
    if not POSTGRES_URL:
        if not _lay_sqlite_schema(app):
            Base.metadata.create_all(get_engine(app))
        with new_session(app) as session:
            check_keys_against_database(session, app.extensions["portal.keys"])
    try:
        yield app
    finally:
        if POSTGRES_URL:
            _empty_postgres(app)
        get_engine(app).dispose()


@contextmanager
def fresh_database_url(tmp_path: Path, prefix: str) -> Iterator[str]:
    """An empty database of the test database's kind, dropped afterwards (no schema in it)."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / (prefix + '.db')}"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_test_config(tmp_path: Path, key_file: Path, **overrides: object) -> dict[str, object]:
    """Return the configuration of a test app."""
    config: dict[str, object] = {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "KEY_FILE": str(key_file),
        "DATABASE_URL": POSTGRES_URL or f"sqlite:///{tmp_path / 'portal.db'}",
        "RATELIMIT_STORAGE_URI": "memory://",
        # Flask-Limiter keeps some state per process: every test app states it explicitly.
        "RATELIMIT_ENABLED": True,
        # Cheap argon2 parameters keep the suite fast; a test checks the production defaults.
        "PASSWORD_HASHER": CHEAP_ARGON2,
        "WTF_CSRF_ENABLED": False,
        "MAIL_URL": "",
        # The portal speaks French unless told otherwise; tests read the English message ids,
        # and the tests of the French default say so explicitly.
        "BABEL_DEFAULT_LOCALE": "en",
    }
    config.update(overrides)
    return config


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path, postgres_schema: str | None) -> dict[str, object]:
    """The configuration the `app` fixture uses; a test may change it before asking for `app`."""
    if postgres_schema is not None:
        # Whatever an earlier test left (say, rows written under another key file) goes first.
        _empty_postgres()
    return make_test_config(tmp_path, key_file)


@pytest.fixture
def app(
    app_config: dict[str, object],
    tmp_path: Path,
    postgres_schema: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flask]:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    with app_database(create_app(app_config)) as application:
        yield application


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session for setting state up through the services; commit to make it visible."""
    session = new_session(app)
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def client(app: Flask):  # noqa: ANN201
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # noqa: ANN201
    return app.test_cli_runner()
