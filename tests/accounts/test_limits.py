"""Rate limits with Flask-Limiter, counting failures only (SEC-AUT-5c, 5d), memory and Redis."""

from __future__ import annotations

import pytest

from portal.accounts.actions import AccountAction
from portal.permissions import Role
from tests.accounts.limiter_fixtures import app_config, own_key_prefix  # noqa: F401
from tests.helpers_auth import DEFAULT_PASSWORD, make_user, totp_code


def _from(address: str) -> dict[str, dict[str, str]]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_ten_failures_from_one_address_then_429(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-5d: 10 per 5 minutes per IP, before any password is checked."""
    make_user(db, "c.martin", role=Role.PRESCRIBER)
    for n in range(10):
        response = client.post("/login", data={"login": f"x.inconnu{n}", "password": "nope"},
                               **_from("192.0.2.7"))
        assert response.status_code == 200
    blocked = client.post("/login", data={"login": "c.martin", "password": DEFAULT_PASSWORD},
                          **_from("192.0.2.7"))
    assert blocked.status_code == 429
    page = blocked.get_data(as_text=True)
    assert "<html" in page.lower() and "429" in page
    # Another address is not concerned.
    assert client.post("/login", data={"login": "c.martin", "password": DEFAULT_PASSWORD},
                       **_from("192.0.2.8")).status_code == 302


def test_successes_do_not_count(app, db, client) -> None:  # noqa: ANN001
    make_user(db, "c.martin", role=Role.PRESCRIBER)
    for _ in range(15):
        response = client.post("/login", data={"login": "c.martin",
                                                "password": DEFAULT_PASSWORD})
        assert response.status_code == 302
        client.post("/logout")


def test_ten_failures_on_one_login_from_many_addresses_then_429(app, db, client) -> None:  # noqa: ANN001
    make_user(db, "c.martin", role=Role.PRESCRIBER)
    for n in range(10):
        client.post("/login", data={"login": "C.Martin", "password": "nope"},
                    **_from(f"198.51.100.{n}"))
    blocked = client.post("/login", data={"login": "c.martin", "password": "nope"},
                          **_from("203.0.113.1"))
    assert blocked.status_code == 429


def test_second_factor_limit_is_per_account(app, db) -> None:  # noqa: ANN001
    """SEC-AUT-5c: 5 wrong codes in 5 minutes, whatever the address; another person is free."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    other = make_user(db, "j.lefebvre", role=Role.PRESCRIBER)
    for n in range(5):
        client = app.test_client()
        client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
        assert client.post("/login/code", data={"code": "000000"},
                           **_from(f"198.51.100.{n}")).status_code == 200
    client = app.test_client()
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    assert client.post("/login/code", data={"code": totp_code(app, user)},
                       **_from("203.0.113.9")).status_code == 429
    free = app.test_client()
    free.post("/login", data={"login": other.login, "password": DEFAULT_PASSWORD})
    assert free.post("/login/code", data={"code": totp_code(app, other)}).status_code == 302


def test_recovery_codes_share_the_second_factor_limit(app, db) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from portal.audit.models import AuditEvent

    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = app.test_client()
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    for _ in range(3):
        client.post("/login/code", data={"code": "000000"})
    for _ in range(2):
        client.post("/login/recovery", data={"code": "0000-0000-0000-0000"})
    assert client.post("/login/recovery", data={"code": "0000-0000-0000-0000"}
                       ).status_code == 429
    db.expire_all()
    assert db.scalars(select(AuditEvent).where(
        AuditEvent.action == AccountAction.TOTP_LIMITED)).first() is not None


def test_an_unreachable_limiter_store_fails_closed(tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    """Storage errors are not swallowed: no login happens without the limiter (a 503 page,
    tests/test_outages.py)."""
    from portal import create_app
    from tests.conftest import make_test_config

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(make_test_config(tmp_path, key_file,
                                      RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0"))
    assert not app.config.get("RATELIMIT_SWALLOW_ERRORS")
    assert not app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED")
    response = app.test_client().post("/login", data={"login": "c.martin", "password": "x"})
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers or "sid" not in response.headers["Set-Cookie"]


def test_production_refuses_per_process_limiter_storage(tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    """SEC-AUT-5d: memory:// would give each worker its own counters."""
    from portal import create_app
    from portal.config import ConfigError
    from tests.conftest import make_test_config

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    config = make_test_config(tmp_path, key_file, ENV="production", SECRET_KEY="s" * 48,
                              SESSION_COOKIE_SECURE=True, RATELIMIT_STORAGE_URI="memory://",
                              # a local file: the PostgreSQL test server speaks no TLS
                              DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}")
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        create_app(config)
