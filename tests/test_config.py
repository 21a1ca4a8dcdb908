"""Configuration: defaults, then PORTAL_* variables, then the test mapping; production refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal import create_app
from portal.config import ConfigError, load_config, validate
from portal.keys import KeyFileError, new_keyring, write_key_file


def _production(key_file: Path, **overrides: object) -> dict[str, object]:
    config = load_config(Path("/tmp/instance"), {}, {
        "ENV": "production",
        "SECRET_KEY": "s" * 48,
        "KEY_FILE": str(key_file),
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        "SESSION_COOKIE_SECURE": True,
        "MAIL_URL": "smtp://relay.internal:25",
        "AUDIT_ANCHOR_DIR": "/srv/audit-anchors",
    })
    config.update(overrides)
    return config


def test_a_complete_production_configuration_is_accepted(key_file: Path) -> None:
    validate(_production(key_file))
    validate(_production(key_file, AUDIT_ANCHOR_DIR="", AUDIT_ANCHOR_MAIL="ops@example.org"))
    # SEC-ECH-2: implicit TLS, or STARTTLS required (smtp://), both accepted
    validate(_production(key_file, MAIL_URL="smtps://portal:secret@relay.internal:465"))


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"SECRET_KEY": ""}, "PORTAL_SECRET_KEY"),
        ({"KEY_FILE": "/nonexistent/portal.keys"}, "PORTAL_KEY_FILE"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "PORTAL_RATELIMIT_STORAGE_URI"),
        ({"SESSION_COOKIE_SECURE": False}, "PORTAL_SESSION_COOKIE_SECURE"),
        ({"MAIL_URL": ""}, "PORTAL_MAIL_URL"),
        ({"MAIL_URL": "relay.internal:25"}, "PORTAL_MAIL_URL"),
        ({"MAIL_URL": "smtp://"}, "PORTAL_MAIL_URL"),
        # SEC-ECH-2: clear-text SMTP is refused at startup, whatever it is called
        ({"MAIL_URL": "smtp+insecure://relay.internal:25"}, "PORTAL_MAIL_URL"),
        ({"MAIL_URL": "lmtp://relay.internal:24"}, "PORTAL_MAIL_URL"),
        ({"AUDIT_ANCHOR_DIR": ""}, "PORTAL_AUDIT_ANCHOR_DIR"),
        ({"DATABASE_URL": "postgresql+psycopg://portal@db.internal:5432/portal"},
         "PORTAL_DATABASE_URL"),
        ({"DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal?sslmode=require"},
         "PORTAL_DATABASE_URL"),
        ({"DATABASE_URL": "postgresql+psycopg://portal@/portal?host=/run/postgresql"},
         "PORTAL_DATABASE_URL"),
        ({"DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal",
          "DATABASE_ALLOW_LOCAL_SOCKET": True}, "PORTAL_DATABASE_URL"),
    ],
)
def test_production_refuses_with_one_line_naming_the_setting(
    key_file: Path, overrides: dict[str, object], setting: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        validate(_production(key_file, **overrides))
    message = str(refused.value)
    assert message.startswith(setting)
    assert "\n" not in message


def test_production_postgresql_is_tls_verified_or_an_allowed_local_socket(key_file: Path) -> None:
    validate(_production(key_file, DATABASE_URL=(
        "postgresql+psycopg://portal@db.internal:5432/portal?sslmode=verify-full")))
    validate(_production(key_file, DATABASE_ALLOW_LOCAL_SOCKET=True,
                         DATABASE_URL="postgresql+psycopg://portal@/portal?host=/run/postgresql"))
    with pytest.raises(ConfigError, match="PORTAL_DATABASE_ALLOW_LOCAL_SOCKET"):
        validate(_production(key_file,
                             DATABASE_URL="postgresql+psycopg://portal@/portal?host=/run/pg"))


def test_pages_over_https_carry_hsts_and_the_security_headers(app_config, tmp_path,  # noqa: ANN001
                                                              monkeypatch) -> None:  # noqa: ANN001
    from tests.conftest import app_database

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app_config["TRUSTED_PROXIES"] = 1
    with app_database(create_app(app_config)) as app:
        client = app.test_client()
        behind_proxy = client.get("/", headers={"X-Forwarded-Proto": "https"})
        direct = client.get("/", base_url="https://localhost")
        plain = client.get("/")
    for response in (behind_proxy, direct):
        assert response.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains")
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    # HSTS over plain HTTP means nothing to a browser and would mislead a reader of the headers.
    assert "Strict-Transport-Security" not in plain.headers


def test_environment_overrides_defaults_and_test_mapping_overrides_environment() -> None:
    environ = {"PORTAL_TIMEZONE": "Europe/London", "PORTAL_TRUSTED_PROXIES": "2",
               "PORTAL_MAX_CONTENT_LENGTH": "4096"}
    config = load_config(Path("/tmp/i"), environ, {"MAX_CONTENT_LENGTH": 10})
    assert config["TIMEZONE"] == "Europe/London"
    assert config["TRUSTED_PROXIES"] == 2
    assert config["MAX_CONTENT_LENGTH"] == 10


def test_a_badly_typed_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="PORTAL_TRUSTED_PROXIES must be an integer"):
        load_config(Path("/tmp/i"), {"PORTAL_TRUSTED_PROXIES": "two"}, None)


def test_secure_cookies_use_the_host_prefix() -> None:
    config = load_config(Path("/tmp/i"), {"PORTAL_SESSION_COOKIE_SECURE": "true"}, None)
    assert config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_runs_with_nothing_set(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    for name in [n for n in os.environ if n.startswith("PORTAL_") and n != "PORTAL_INSTANCE_PATH"]:
        monkeypatch.delenv(name)
    app = create_app()
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    assert (tmp_path / "instance" / "portal.keys").stat().st_mode & 0o777 == 0o400
    assert app.test_client().get("/healthz").status_code == 200


def test_a_missing_key_file_is_refused(app_config, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app_config["KEY_FILE"] = str(tmp_path / "absent.keys")
    with pytest.raises(KeyFileError, match="is missing"):
        create_app(app_config)


def test_a_key_file_that_does_not_match_the_database_is_refused(
    app, app_config, tmp_path, monkeypatch  # noqa: ANN001
) -> None:
    other = tmp_path / "other.keys"
    write_key_file(other, new_keyring())
    app_config["KEY_FILE"] = str(other)
    with pytest.raises(KeyFileError, match="does not match this database"):
        create_app(app_config)


def test_a_corrupt_key_file_is_refused(app_config, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    bad = tmp_path / "bad.keys"
    bad.write_text("{not json")
    bad.chmod(0o600)
    app_config["KEY_FILE"] = str(bad)
    with pytest.raises(KeyFileError, match="not a valid AAC Portal key file"):
        create_app(app_config)


@pytest.mark.parametrize("mode", [0o440, 0o404, 0o420, 0o402, 0o644])
def test_a_key_file_open_to_group_or_others_is_refused(
    app_config, tmp_path, monkeypatch, mode: int  # noqa: ANN001
) -> None:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    shared = tmp_path / "shared.keys"
    write_key_file(shared, new_keyring())
    shared.chmod(mode)
    app_config["KEY_FILE"] = str(shared)
    with pytest.raises(KeyFileError, match=f"open to its group or other users .mode 0{mode:o}"):
        create_app(app_config)
    shared.chmod(0o600)
    create_app(app_config)


def test_the_cli_reports_a_production_refusal_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PORTAL_ENV": "production", "PORTAL_INSTANCE_PATH": str(tmp_path)}
    env.pop("PORTAL_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "portal.cli", "db", "current"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode != 0
    assert "PORTAL_SECRET_KEY is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_without_a_mail_relay_does_not_start(tmp_path: Path, key_file: Path) -> None:
    env = {**os.environ, "PORTAL_ENV": "production", "PORTAL_INSTANCE_PATH": str(tmp_path),
           "PORTAL_SECRET_KEY": "p" * 48, "PORTAL_KEY_FILE": str(key_file),
           "PORTAL_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/3",
           "PORTAL_SESSION_COOKIE_SECURE": "true", "PORTAL_MAIL_URL": "",
           "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"}
    result = subprocess.run(
        [sys.executable, "-m", "portal.cli", "db", "current"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode != 0
    assert "PORTAL_MAIL_URL is empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outbox").exists()
