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


#: what a client could forge; only a trusted proxy may set these
FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9",
          "X-Forwarded-Host": "portal.attacker.example", "X-Forwarded-Ssl": "on",
          "X-Forwarded-Protocol": "ssl"}


def test_the_readme_tells_gunicorn_to_leave_forwarded_headers_to_the_portal() -> None:
    from tests.servers import documented_gunicorn_command

    command = documented_gunicorn_command()
    assert command[-1] == "portal:create_app()"
    assert "--forwarded-allow-ips" in command
    assert command[command.index("--forwarded-allow-ips") + 1] == ""


def test_forwarded_headers_from_an_untrusted_address_change_nothing(
    app, tmp_path: Path, key_file: Path  # noqa: ANN001
) -> None:
    # gunicorn's own default trusts 127.0.0.1, the address these requests come from; with
    # PORTAL_TRUSTED_PROXIES=0 nobody is trusted, so the forged scheme must not turn HSTS on.
    env = {**_env(tmp_path, key_file, app.config["DATABASE_URL"]),
           "PORTAL_TRUSTED_PROXIES": "0"}
    with gunicorn(env, workers=1) as base:
        plain = requests.get(base + "/", timeout=5)
        forged = requests.get(base + "/", headers=FORGED, timeout=5)
        redirect = requests.get(base + "/language/en?next=/", headers=FORGED, timeout=5,
                                allow_redirects=False)
    assert forged.status_code == plain.status_code == 200
    assert "Strict-Transport-Security" not in forged.headers
    assert forged.text == plain.text
    assert "attacker" not in redirect.headers.get("Location", "")
    assert "https:" not in redirect.headers.get("Location", "")


def test_one_trusted_proxy_is_believed_through_the_portal_setting(
    app, tmp_path: Path, key_file: Path  # noqa: ANN001
) -> None:
    env = {**_env(tmp_path, key_file, app.config["DATABASE_URL"]),
           "PORTAL_TRUSTED_PROXIES": "1"}
    with gunicorn(env, workers=1) as base:
        forwarded = requests.get(base + "/", headers={"X-Forwarded-Proto": "https"}, timeout=5)
        direct = requests.get(base + "/", timeout=5)
    assert forwarded.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in direct.headers
