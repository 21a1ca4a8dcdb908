"""Every file of the instance folder is the owner's only (0600; the key file 0400)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import create_app
from portal.mail import outbox_dir, send_mail


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common default umask, under which new files are world-readable unless asked."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def development(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A development environment with nothing set, its instance folder under tmp_path."""
    instance = tmp_path / "instance"
    for name in [n for n in os.environ if n.startswith("PORTAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance))
    return instance


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_development_creates_every_instance_file_for_the_owner_only(
    development: Path, loose_umask: None
) -> None:
    app = create_app()
    assert app.test_client().get("/healthz").status_code == 200  # opens the database (WAL)
    with app.app_context():
        send_mail(app, "someone@example.org", "Activate your account", "https://x/activate/t")

    assert _mode(development) == 0o700
    database = development / "portal.db"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"),
                 development / "secret_key"):
        assert path.exists(), path
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
    assert _mode(development / "portal.keys") == 0o400
    outbox = outbox_dir(app)
    assert _mode(outbox) == 0o700
    [mail] = list(outbox.iterdir())
    assert _mode(mail) == 0o600
    assert "activate/t" in mail.read_text()


def test_a_database_created_world_readable_earlier_is_closed_to_others(
    development: Path, loose_umask: None
) -> None:
    development.mkdir(parents=True)
    database = development / "portal.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE kept (note TEXT)")
        connection.execute("INSERT INTO kept VALUES ('still here')")
    connection.close()
    database.chmod(0o644)
    create_app()
    assert _mode(database) == 0o600
    with sqlite3.connect(database) as connection:  # the content is left alone
        assert connection.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    connection.close()


def test_a_database_in_a_missing_folder_is_not_created(
    development: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path}/absent/portal.db")
    app = create_app()
    assert not (tmp_path / "absent").exists()
    assert app.test_client().get("/healthz").status_code == 503
