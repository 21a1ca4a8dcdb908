"""The hashing budget (issue 25) and the overall failure limit (issue 26), memory and Redis."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from portal.accounts import authentication, hash_budget
from portal.accounts.actions import AccountAction
from portal.accounts.hash_budget import Lane
from portal.accounts.models import LoginFailure, LoginThrottle
from portal.audit.models import AuditEvent
from portal.config import ConfigError
from portal.permissions import Role
from tests.accounts.limiter_fixtures import app_config, own_key_prefix  # noqa: F401
from tests.helpers_auth import DEFAULT_PASSWORD, login, make_user

BUSY = "Many logins are being checked at this moment"


def _from(address: str) -> dict[str, dict[str, str]]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def _known_user(app, db, login_name: str = "c.martin"):  # noqa: ANN001, ANN202
    """An account that completed a login through the real forms, then logged out."""
    user = make_user(db, login_name, role=Role.PRESCRIBER)
    client = app.test_client()
    login(client, user)
    client.post("/logout")
    db.refresh(user)
    assert user.last_login_at is not None
    return user


def _failures_recorded(db) -> tuple[int, int, int]:  # noqa: ANN001
    db.expire_all()
    return (db.scalar(select(func.count()).select_from(LoginFailure)),
            db.scalar(select(func.count()).select_from(LoginThrottle)),
            db.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == AccountAction.LOGIN_FAILURE)))


# --- the slots -------------------------------------------------------------------------------


def test_a_lane_gives_its_slots_then_refuses_until_one_is_given_back(app) -> None:  # noqa: ANN001
    app.config["LOGIN_HASH_SLOTS"] = 2
    with hash_budget.slot(app, Lane.OPEN) as first, hash_budget.slot(app, Lane.OPEN) as second:
        assert first and second
        with hash_budget.slot(app, Lane.OPEN) as third:
            assert not third
    with hash_budget.slot(app, Lane.OPEN) as again:
        assert again


def test_a_slot_is_given_back_when_the_verification_fails(app) -> None:  # noqa: ANN001
    with pytest.raises(RuntimeError), hash_budget.slot(app, Lane.OPEN) as granted:
        assert granted
        raise RuntimeError("argon2 failed")
    with hash_budget.slot(app, Lane.OPEN) as granted:
        assert granted


def test_the_known_lane_is_one_per_account_and_untouched_by_the_open_lane(app) -> None:  # noqa: ANN001
    app.config["LOGIN_KNOWN_HASH_SLOTS"] = 2
    with hash_budget.slot(app, Lane.OPEN) as open_, hash_budget.slot(app, Lane.KNOWN, 1) as one:
        assert open_ and one
        with hash_budget.slot(app, Lane.KNOWN, 1) as same_account:
            assert not same_account
        with hash_budget.slot(app, Lane.KNOWN, 2) as other_account:
            assert other_account
            with hash_budget.slot(app, Lane.KNOWN, 3) as lane_full:
                assert not lane_full


def test_unusable_budget_settings_are_refused_at_start(tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    from portal import create_app
    from tests.conftest import make_test_config

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("PORTAL_LOGIN_HASH_SLOTS", "0")
    with pytest.raises(ConfigError, match="PORTAL_LOGIN_HASH_SLOTS must be a whole number"):
        create_app(make_test_config(tmp_path, key_file))


# --- the login form under a full budget ------------------------------------------------------


def test_over_budget_an_unknown_login_gets_a_fast_503_nothing_hashed_nor_counted(
        app, db, client, monkeypatch) -> None:  # noqa: ANN001
    from portal.accounts.hashing import Hasher

    hashed = []
    monkeypatch.setattr(Hasher, "verify_dummy", lambda self, secret: hashed.append(1))
    before = _failures_recorded(db)
    with hash_budget.slot(app, Lane.OPEN) as held:  # another worker is hashing
        assert held
        response = client.post("/login", data={"login": "X.Inconnu", "password": "nope"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    page = response.get_data(as_text=True)
    assert BUSY in page
    assert 'value="X.Inconnu"' in page  # what the person typed is kept
    assert "nope" not in page
    assert hashed == []
    assert _failures_recorded(db) == before
    # Once the slot is free the same attempt is checked (and counted) as usual.
    assert client.post("/login", data={"login": "X.Inconnu", "password": "nope"}
                       ).status_code == 200
    assert hashed == [1]


def test_over_budget_a_known_account_still_logs_in(app, db, client) -> None:  # noqa: ANN001
    user = _known_user(app, db)
    newcomer = make_user(db, "j.lefebvre", role=Role.PRESCRIBER)  # never logged in yet
    with hash_budget.slot(app, Lane.OPEN) as held:
        assert held
        known = client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD},
                            **_from("192.0.2.20"))
        assert known.status_code == 302 and known.headers["Location"] == "/login/code"
        fresh = app.test_client().post(
            "/login", data={"login": newcomer.login, "password": DEFAULT_PASSWORD})
        assert fresh.status_code == 503


def test_concurrent_attempts_on_one_known_account_take_one_slot(app, db, client) -> None:  # noqa: ANN001
    user = _known_user(app, db)
    with hash_budget.slot(app, Lane.KNOWN, user.id) as held:
        assert held
        response = client.post("/login", data={"login": user.login,
                                                "password": DEFAULT_PASSWORD})
    assert response.status_code == 503


def test_a_disabled_account_with_history_draws_on_the_open_lane(app, db) -> None:  # noqa: ANN001
    from portal.accounts import services
    from tests.helpers_auth import CLI

    user = _known_user(app, db)
    assert authentication.has_login_history(db, "C.Martin")
    services.disable_user(db, CLI, user)
    db.commit()
    assert not authentication.has_login_history(db, "c.martin")
    assert not authentication.has_login_history(db, "nobody")
    assert not authentication.has_login_history(db, "x" * 500)


# --- the overall failure limit ---------------------------------------------------------------


def test_unknown_failures_fill_the_overall_limit_but_a_known_account_gets_in(app, db) -> None:  # noqa: ANN001
    """Issue 26, at a tenth of the scale (100 x 10 against 1,000 takes minutes here): failures
    on unknown logins from 10 addresses x 10 fill an overall limit of 100; unknown logins then
    get 429, a person who logged in before still gets in with the right password."""
    app.config["LOGIN_GLOBAL_LIMIT"] = "100 per 5 minutes"
    user = _known_user(app, db)
    client = app.test_client()
    for address in range(10):
        for attempt in range(10):
            response = client.post(
                "/login", data={"login": f"inconnu.{address}.{attempt}", "password": "nope"},
                **_from(f"198.18.0.{address + 1}"))
            assert response.status_code == 200
    refused = client.post("/login", data={"login": "inconnu.encore", "password": "nope"},
                          **_from("203.0.113.50"))
    assert refused.status_code == 429
    known = client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD},
                        **_from("203.0.113.51"))
    assert known.status_code == 302 and known.headers["Location"] == "/login/code"


def _count_as_failed_login(app, login_name: str, address: str, *, check_exempt: bool) -> None:  # noqa: ANN001
    """Deduct one failed login from every limit of the login route, as the route's own
    `deduct_when` does after a failure: same limits, key functions, scopes and storage.
    `check_exempt`: ask the route's `exempt_when` (a database query) and fail if it exempts."""
    from flask_limiter.util import get_qualified_name

    from portal.extensions import limiter

    view = app.view_functions["accounts.login"]
    with app.test_request_context("/login", method="POST", environ_base={"REMOTE_ADDR": address},
                                  data={"login": login_name, "password": "nope"}):
        for lim in limiter.limit_manager.decorated_limits(get_qualified_name(view)):
            if check_exempt and lim.exempt_when is not None:
                assert not lim.exempt_when(), login_name
            args = [lim.key_func(), lim.scope_for("accounts.login", "POST")]
            if limiter._key_prefix:
                args = [limiter._key_prefix, *args]
            assert limiter.limiter.hit(lim.limit, *args)


def test_the_full_flood_of_100_addresses_x_10_leaves_known_accounts_their_login(app, db) -> None:  # noqa: ANN001
    """Issue 26 at full scale, with the overall limit at its default (1,000 per 5 minutes): 100
    addresses x 10 wrong passwords on unknown logins. A request costs some 30 ms of Flask, forms,
    database and audit work that the limits do not depend on, so 990 of the failures are counted
    straight into the route's own limits (as a failed request deducts them), and the last ten
    are real requests, each an address's tenth failure and the last ones the limit admits.
    (`test_unknown_failures_fill_...` above sends every failure as a request, at a tenth.)"""
    assert app.config["LOGIN_GLOBAL_LIMIT"] == "1000 per 5 minutes"
    user = _known_user(app, db)
    client = app.test_client()
    for address in range(100):
        for attempt in range(10 if address >= 10 else 9):
            _count_as_failed_login(app, f"inconnu.{address}.{attempt}",
                                   f"198.18.{address // 200}.{address % 200 + 1}",
                                   check_exempt=attempt == 0)
    for address in range(10):
        response = client.post(
            "/login", data={"login": f"inconnu.{address}.9", "password": "nope"},
            **_from(f"198.18.0.{address + 1}"))
        assert response.status_code == 200  # refused as wrong, counted
    assert _failures_recorded(db)[0] == 10
    refused = client.post("/login", data={"login": "inconnu.encore", "password": "nope"},
                          **_from("203.0.113.50"))
    assert refused.status_code == 429
    # An address of the flood has used its own ten failures as well.
    assert client.post("/login", data={"login": "inconnu.0.10", "password": "nope"},
                       **_from("198.18.0.1")).status_code == 429
    known = client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD},
                        **_from("203.0.113.51"))
    assert known.status_code == 302 and known.headers["Location"] == "/login/code"


def test_failures_on_a_known_account_leave_the_overall_limit_to_unknown_logins(app, db) -> None:  # noqa: ANN001
    app.config["LOGIN_GLOBAL_LIMIT"] = "5 per 5 minutes"
    user = _known_user(app, db)
    client = app.test_client()
    for n in range(4):  # four failures: not yet a lock
        assert client.post("/login", data={"login": user.login, "password": "nope"},
                           **_from(f"198.18.1.{n + 1}")).status_code == 200
    for n in range(5):
        assert client.post("/login", data={"login": f"inconnu.{n}", "password": "nope"},
                           **_from(f"198.18.2.{n + 1}")).status_code == 200
    assert client.post("/login", data={"login": "inconnu.6", "password": "nope"},
                       **_from("198.18.2.9")).status_code == 429


def test_an_unusable_overall_limit_is_refused_at_start(tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    from portal import create_app
    from tests.conftest import make_test_config

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("PORTAL_LOGIN_GLOBAL_LIMIT", "lots")
    with pytest.raises(ConfigError, match="PORTAL_LOGIN_GLOBAL_LIMIT must be a rate"):
        create_app(make_test_config(tmp_path, key_file))


def test_slots_expire_when_a_worker_dies_holding_one(app) -> None:  # noqa: ANN001
    """A killed worker never gives its slot back: in Redis the slot lapses on its own."""
    if not str(app.config["RATELIMIT_STORAGE_URI"]).startswith("redis://"):
        pytest.skip("per-process slots die with their process; expiry is a Redis matter")
    app.config["LOGIN_HASH_SLOT_SECONDS"] = 1
    dead_worker = hash_budget.slot(app, Lane.OPEN)
    assert dead_worker.__enter__()  # entered, never left
    with hash_budget.slot(app, Lane.OPEN) as granted:
        assert not granted
    time.sleep(1.1)
    with hash_budget.slot(app, Lane.OPEN) as granted:
        assert granted


def test_workers_share_the_budget_through_redis(app) -> None:  # noqa: ANN001
    from portal import create_app

    if not str(app.config["RATELIMIT_STORAGE_URI"]).startswith("redis://"):
        pytest.skip("with memory:// storage each process has its own budget")
    other_worker = create_app(dict(app.config))
    with hash_budget.slot(app, Lane.OPEN) as held:
        assert held
        with hash_budget.slot(other_worker, Lane.OPEN) as granted:
            assert not granted
