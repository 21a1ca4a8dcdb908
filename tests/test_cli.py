"""The `portal` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from flask.cli import FlaskGroup, ScriptInfo

from portal import create_app
from portal.cli import APP_COMMANDS, KEY_COMMANDS, cli
from tests.conftest import make_test_config


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", *args],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )


@pytest.fixture(scope="module")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `portal demo --no-serve` run, shared seeding takes seconds. Tests change copies."""
    instance = tmp_path_factory.mktemp("demo") / "instance"
    seeded = _run("demo", "--no-serve", env={"PORTAL_INSTANCE_PATH": str(instance)})
    assert seeded.returncode == 0, seeded.stderr
    return instance, seeded.stdout


def _copy_of(seeded_demo: tuple[Path, str], tmp_path: Path) -> Path:
    instance = tmp_path / "instance"
    shutil.copytree(seeded_demo[0], instance)
    return instance


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = _run("--help", env={"PORTAL_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    for command in ("db", "demo", "keys", "run", "routes"):
        assert f"  {command} " in result.stdout


def test_help_lists_every_command_without_building_the_application(tmp_path: Path) -> None:
    # A production configuration with no secret: building the application refuses it, and
    # `portal --help` must still list every command (it only reads the table of commands).
    env = {"PORTAL_INSTANCE_PATH": str(tmp_path), "PORTAL_ENV": "production"}
    result = _run("--help", env=env)
    assert result.returncode == 0, result.stderr
    for command in (*APP_COMMANDS, "keys", "run", "routes", "shell"):
        assert f"  {command} " in result.stdout
    refused = _run("db", "current", env=env)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("limit", [30, 45, 80, 200])
def test_the_table_of_commands_is_the_applications(tmp_path: Path, key_file: Path,
                                                   limit: int) -> None:
    app = create_app(make_test_config(tmp_path, key_file))
    # Closing the context pops the application context Flask's lookup pushes.
    with click.Context(cli, obj=ScriptInfo(create_app=lambda: app)) as context:
        # What Flask's own group lists once it has built the application and its plugins.
        assert cli.list_commands(context) == sorted(FlaskGroup.list_commands(cli, context))
        for name, lazy in APP_COMMANDS.items():
            real = FlaskGroup.get_command(cli, context, name)
            assert real is not None and lazy.load() is real, name
            assert (click.Command(name, help=lazy.summary).get_short_help_str(limit)
                    == real.get_short_help_str(limit)), name
        keys = cli.get_command(context, "keys")
        assert isinstance(keys, click.Group)
        for name, lazy in KEY_COMMANDS.items():
            real = keys.get_command(context, name)
            assert real is not None and real.name == name
            assert (click.Command(name, help=lazy.summary).get_short_help_str(limit)
                    == real.get_short_help_str(limit)), name


def test_flask_app_option_works_too(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "portal", "db", "--help"],
        capture_output=True, text=True, env={**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "upgrade" in result.stdout


def test_db_upgrade_then_current(tmp_path: Path, key_file: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    app = create_app(make_test_config(tmp_path, key_file, DATABASE_URL=url))
    runner = app.test_cli_runner()
    before = runner.invoke(args=["db", "current"])
    assert "empty database" in before.output
    upgraded = runner.invoke(args=["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "up to date" in runner.invoke(args=["db", "current"]).output


def test_keys_init_writes_a_read_only_file_and_never_overwrites(tmp_path: Path) -> None:
    from click.testing import CliRunner

    target = tmp_path / "k" / "portal.keys"
    runner = CliRunner()
    first = runner.invoke(cli, ["keys", "init", "--path", str(target)])
    assert first.exit_code == 0, first.output
    assert target.stat().st_mode & 0o777 == 0o400
    content = target.read_bytes()
    second = runner.invoke(cli, ["keys", "init", "--path", str(target)])
    assert second.exit_code != 0
    assert "refusing to overwrite" in second.output
    assert target.read_bytes() == content


def test_demo_seeds_twice_without_duplicating(seeded_demo: tuple[Path, str],
                                              tmp_path: Path) -> None:
    env = {"PORTAL_INSTANCE_PATH": str(_copy_of(seeded_demo, tmp_path))}
    second = _run("demo", "--no-serve", env=env)
    assert second.returncode == 0, second.stderr
    assert "Database ready" in second.stdout


def test_demo_refuses_production(tmp_path: Path, key_file: Path) -> None:
    env = {
        "PORTAL_INSTANCE_PATH": str(tmp_path),
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": "p" * 48,
        "PORTAL_KEY_FILE": str(key_file),
        "PORTAL_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
        "PORTAL_SESSION_COOKIE_SECURE": "true",
        "PORTAL_MAIL_URL": "smtp://relay.internal:25",
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
        "PORTAL_AUDIT_ANCHOR_DIR": str(tmp_path / "anchors"),
    }
    result = _run("demo", "--no-serve", env=env)
    assert result.returncode != 0
    assert "refuses to run with PORTAL_ENV=production" in result.stderr


def test_key_rotation_is_under_the_keys_group(tmp_path: Path) -> None:
    result = _run("keys", "--help", env={"PORTAL_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "  rotate " in result.stdout and "  retire-kek " in result.stdout


def test_demo_serves_the_portal(seeded_demo: tuple[Path, str], tmp_path: Path) -> None:
    import requests

    from tests.servers import free_port, wait_until_up

    port = free_port()
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(_copy_of(seeded_demo, tmp_path))}
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "demo", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", timeout=120)
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_version_prints_the_portal_version(tmp_path: Path) -> None:
    import tomllib

    from portal.config import PROJECT_ROOT

    declared = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = _run("--version", env={"PORTAL_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"AAC Portal {declared} ")
    assert "Traceback" not in result.stderr


def test_demo_totp_prints_the_current_code_of_a_demo_account(seeded_demo: tuple[Path, str]) -> None:
    import re

    import pyotp

    instance, seeded_output = seeded_demo
    env = {"PORTAL_INSTANCE_PATH": str(instance)}
    secret = re.search(r" c\.martin .*TOTP secret ([A-Z2-7]+)", seeded_output).group(1)
    shown = _run("demo", "totp", "c.martin", env=env)
    assert shown.returncode == 0, shown.stderr
    code = shown.stdout.strip()
    assert re.fullmatch(r"\d{6}", code)
    assert pyotp.TOTP(secret).verify(code, valid_window=1)
    assert "seconds" in shown.stderr or " s." in shown.stderr

    unknown = _run("demo", "totp", "someone.else", env=env)
    assert unknown.returncode != 0
    assert "is not a demo account" in unknown.stderr and "Traceback" not in unknown.stderr


def test_demo_totp_is_refused_outside_development(runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["demo", "totp", "c.martin"])  # the test app: PORTAL_ENV=testing
    assert result.exit_code != 0
    assert "only shown with PORTAL_ENV=development" in result.output


@pytest.mark.parametrize("command", [["jobs", "run"], ["jobs", "status"], ["audit", "verify"]])
def test_a_duty_that_meets_a_database_down_says_so_in_one_line(
        tmp_path: Path, command: list[str]) -> None:
    from tests.servers import free_port

    env = {"PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
           "PORTAL_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"}
    result = _run(*command, env=env)
    assert result.returncode == 75, result.stderr
    assert "Error: the database does not answer (connection failed" in result.stderr
    assert "Run it again once the database is back." in result.stderr
    assert "Traceback" not in result.stderr
