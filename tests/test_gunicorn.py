"""Production serving: gunicorn with two workers answers /healthz."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.conftest import POSTGRES_URL
from tests.servers import gunicorn

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, key_file: Path, database_url: str) -> dict[str, str]:
    return {
        "PORTAL_ENV": "testing",
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_SECRET_KEY": "g" * 48,
        "PORTAL_KEY_FILE": str(key_file),
        "PORTAL_DATABASE_URL": database_url,
    }


def test_gunicorn_two_workers_serve_healthz(app, tmp_path: Path, key_file: Path) -> None:  # noqa: ANN001
    database_url = app.config["DATABASE_URL"]
    with gunicorn(_env(tmp_path, key_file, database_url)) as base:
        answers = [requests.get(base + "/healthz", timeout=5) for _ in range(10)]
        assert {r.status_code for r in answers} == {200}
        assert answers[0].text == "ok\n"
        home = requests.get(base + "/", timeout=5)
        assert home.status_code == 200
        assert home.headers["X-Content-Type-Options"] == "nosniff"


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path, key_file: Path) -> None:
    unreachable = (
        "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1"
        if POSTGRES_URL else f"sqlite:///{tmp_path}/missing-dir/portal.db"
    )
    with gunicorn(_env(tmp_path, key_file, unreachable), workers=1) as base:
        response = requests.get(base + "/healthz", timeout=10)
        assert response.status_code == 503
        assert "Traceback" not in response.text
