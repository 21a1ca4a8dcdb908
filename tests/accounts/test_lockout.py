"""Blocking (SEC-AUT-5a, 5b, 5e): the schedule with a frozen clock, held in the database."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import clock
from portal.accounts import authentication, services
from portal.accounts.actions import AccountAction
from portal.accounts.models import LoginThrottle, User
from portal.audit.models import AuditEvent
from portal.permissions import Role
from tests.helpers_auth import CLI, DEFAULT_PASSWORD, login, mail_body, make_user, outbox

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WRONG = "Wrong-Pass-2026!"


_addresses = itertools.count(1)


def attempt(client, login_name: str, password: str) -> bool:  # noqa: ANN001
    """Submit the password form; True when the password step was passed.

    Each attempt comes from another address, so that the per-IP limiter (tested in
    test_limits.py) does not answer before the lock schedule is exercised in full.
    """
    address = f"10.0.{next(_addresses) % 250}.{next(_addresses) % 250 + 1}"
    response = client.post("/login", data={"login": login_name, "password": password},
                           environ_base={"REMOTE_ADDR": address})
    if response.status_code == 302:
        client.post("/logout")
        return True
    assert response.status_code == 200
    assert "Incorrect login or password" in response.get_data(as_text=True)
    return False


def test_fifth_failure_locks_two_minutes_then_sixth_four(app, db, client) -> None:  # noqa: ANN001
    with clock.frozen(T0) as frozen:
        make_user(db, "c.martin", role=Role.PRESCRIBER)
        for _ in range(4):
            assert not attempt(client, "c.martin", WRONG)
        # Four failures cost nothing: the right password still works.
        assert attempt(client, "c.martin", DEFAULT_PASSWORD)
        assert not attempt(client, "c.martin", WRONG)  # 5th consecutive: 2 min
        frozen.tick(timedelta(seconds=119))
        assert not attempt(client, "c.martin", DEFAULT_PASSWORD)
        frozen.tick(timedelta(seconds=2))
        assert attempt(client, "c.martin", DEFAULT_PASSWORD)
        assert not attempt(client, "c.martin", WRONG)  # 6th consecutive: 4 min
        frozen.tick(timedelta(minutes=3, seconds=59))
        assert not attempt(client, "c.martin", DEFAULT_PASSWORD)
        frozen.tick(timedelta(seconds=2))
        assert attempt(client, "c.martin", DEFAULT_PASSWORD)


def test_while_locked_the_password_is_not_checked(app, db, client, monkeypatch) -> None:  # noqa: ANN001
    from portal.accounts import hashing

    with clock.frozen(T0):
        make_user(db, "c.martin", role=Role.PRESCRIBER)
        for _ in range(5):
            attempt(client, "c.martin", WRONG)
        calls: list[str] = []
        original = hashing.Hasher.verify

        def counting(self, stored, secret):  # noqa: ANN001, ANN202
            calls.append(secret)
            return original(self, stored, secret)

        monkeypatch.setattr(hashing.Hasher, "verify", counting)
        monkeypatch.setattr(hashing.Hasher, "verify_dummy", lambda self, s: calls.append(s))
        assert not attempt(client, "c.martin", DEFAULT_PASSWORD)
        assert calls == []
        db.expire_all()
        user = services.user_by_login(db, "c.martin")
        # Attempts while locked are not failures: the count stays at 5.
        assert user.failed_logins == 5
        assert user.locked_until == T0 + timedelta(minutes=2)


def test_a_full_login_resets_the_consecutive_count(app, db, client) -> None:  # noqa: ANN001
    with clock.frozen(T0):
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        for _ in range(4):
            attempt(client, "c.martin", WRONG)
        login(client, user)
        client.post("/logout")
        db.expire_all()
        assert db.get(User, user.id).failed_logins == 0
        for _ in range(4):
            assert not attempt(client, "c.martin", WRONG)
        assert attempt(client, "c.martin", DEFAULT_PASSWORD)


def test_at_most_25_failures_in_24_hours(app, db) -> None:  # noqa: ANN001
    """SEC-AUT-5b: failures spaced beyond each lock; the 26th attempt is not even checked."""
    with clock.frozen(T0) as frozen:
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        for n in range(25):
            assert not authentication.check_login(db, "c.martin", WRONG).ok
            # A full login between failures resets the consecutive count, not the 24 h cap.
            user.failed_logins = 0
            db.commit()
            if n < 24:
                frozen.tick(timedelta(minutes=30))
                assert authentication.check_login(db, "c.martin", DEFAULT_PASSWORD).ok
                db.commit()
        assert frozen.at < T0 + timedelta(hours=24)
        assert not authentication.check_login(db, "c.martin", DEFAULT_PASSWORD).ok
        db.commit()
        last = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert last.action == AccountAction.LOGIN_FAILURE and last.details["reason"] == "locked"
        # The window frees 24 h after the oldest failure.
        frozen.tick(T0 + timedelta(hours=24, seconds=1) - frozen.at)
        assert authentication.check_login(db, "c.martin", DEFAULT_PASSWORD).ok


def test_unknown_logins_lock_exactly_like_accounts(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-3i: the lock is keyed on the submitted login, existing or not."""
    with clock.frozen(T0) as frozen:
        make_user(db, "c.martin", role=Role.PRESCRIBER)
        for name in ("c.martin", "x.personne"):
            for _ in range(5):
                attempt(client, name, WRONG)
        real = client.post("/login", data={"login": "c.martin", "password": DEFAULT_PASSWORD})
        ghost = client.post("/login", data={"login": "x.personne", "password": DEFAULT_PASSWORD})
        assert real.status_code == ghost.status_code == 200
        assert (real.get_data(as_text=True).replace("c.martin", "L")
                == ghost.get_data(as_text=True).replace("x.personne", "L"))
        throttle = db.scalars(select(LoginThrottle)).one()
        assert throttle.failed_logins == 5 and throttle.locked_until == T0 + timedelta(minutes=2)
        # The submitted text itself is not kept, only its hash.
        assert "personne" not in throttle.login_key
        frozen.tick(timedelta(minutes=2, seconds=1))
        assert attempt(client, "c.martin", DEFAULT_PASSWORD)


def test_the_lock_lives_in_the_database_across_app_instances(app, db, tmp_path, key_file,  # noqa: ANN001
                                                             monkeypatch) -> None:
    """Two app objects on one database stand for two workers (or a restart)."""
    from portal import create_app

    with clock.frozen(T0):
        make_user(db, "c.martin", role=Role.PRESCRIBER)
        first = app.test_client()
        for _ in range(5):
            attempt(first, "c.martin", WRONG)
        other_worker = create_app(dict(app.config))
        assert not attempt(other_worker.test_client(), "c.martin", DEFAULT_PASSWORD)


def test_locking_is_audited_and_the_owner_is_told(app, db, client) -> None:  # noqa: ANN001
    with clock.frozen(T0):
        make_user(db, "c.martin", role=Role.PRESCRIBER)
        for _ in range(5):
            attempt(client, "c.martin", WRONG)
    db.expire_all()
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == AccountAction.LOGIN_LOCKED))
    locked = events.one()
    assert locked.details == {"minutes": 2, "failures": 5}
    assert locked.outcome == "failure"
    messages = [m for m in outbox(app) if m["To"] == "c.martin@example.org"]
    notice = [m for m in messages if "locked" in m["Subject"].lower()
              or "bloqu" in m["Subject"].lower()]
    assert len(notice) == 1
    body = mail_body(notice[0])
    assert WRONG not in body
    # Until when, in the portal's local time (Paris, UTC+1 in March), and how to be unblocked.
    assert "blocked until 3/2/26, 10:02" in body
    assert "ask your administrator" in body and "lift the block at once" in body


def test_an_administrator_unlocks_and_it_is_audited(app, db, client, runner) -> None:  # noqa: ANN001
    with clock.frozen(T0):
        make_user(db, "c.martin", role=Role.PRESCRIBER)
        for _ in range(5):
            attempt(client, "c.martin", WRONG)
        assert not attempt(client, "c.martin", DEFAULT_PASSWORD)
        result = runner.invoke(args=["users", "unlock", "C.Martin"])
        assert result.exit_code == 0, result.output
        assert attempt(client, "c.martin", DEFAULT_PASSWORD)
    db.expire_all()
    unlock = db.scalars(select(AuditEvent).where(
        AuditEvent.action == AccountAction.USER_UNLOCK)).one()
    assert unlock.actor_kind == "cli" and unlock.details == {"was_locked": True}


def test_unlock_service_needs_an_administrator(app, db) -> None:  # noqa: ANN001
    from portal.errors import Forbidden

    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    other = make_user(db, "j.lefebvre", role=Role.PRESCRIBER)
    with pytest.raises(Forbidden):
        services.unlock_user(db, other, user)
    services.unlock_user(db, CLI, user)


def test_the_lock_policy_is_documented_with_its_numbers() -> None:
    """SEC-AUT-5e: docs/security/auth.md states the numbers of SEC-AUT-5a to 5c and unlocking."""
    from portal.accounts import lockout
    from portal.accounts.routes import LOGIN_LIMIT, SECOND_FACTOR_LIMITS

    text = (Path(__file__).resolve().parents[2] / "docs" / "security" / "auth.md").read_text()
    assert f"{lockout.FREE_FAILURES + 1}th consecutive failure" in text
    assert f"{int(lockout.BASE_LOCK.total_seconds() // 60)} minutes" in text
    assert f"{int(lockout.MAX_LOCK.total_seconds() // 3600)} hours" in text
    assert f"{lockout.MAX_FAILURES_IN_WINDOW} failed attempts" in text
    assert LOGIN_LIMIT in text
    for limit in SECOND_FACTOR_LIMITS.split(";"):
        assert limit in text
    assert "portal users unlock" in text
    assert "never permanent" in text.lower()


@pytest.mark.slow
def test_the_lock_holds_across_gunicorn_workers(app, db, tmp_path, key_file) -> None:  # noqa: ANN001
    """Pitfall 1 of the checklist: workers each have their own memory; the 6th is refused."""
    import requests

    from tests.servers import gunicorn

    make_user(db, "c.martin", role=Role.PRESCRIBER)
    env = {
        "PORTAL_ENV": "testing",
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_SECRET_KEY": "g" * 48,
        "PORTAL_KEY_FILE": str(key_file),
        "PORTAL_DATABASE_URL": app.config["DATABASE_URL"],
    }
    def post(browser: requests.Session, password: str) -> requests.Response:
        page = browser.get(base + "/login", timeout=10).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        return browser.post(base + "/login", timeout=10, allow_redirects=False,
                            data={"login": "c.martin", "password": password,
                                  "csrf_token": token})

    with gunicorn(env, workers=2) as base:
        browser = requests.Session()
        for _ in range(5):
            # Gunicorn's sync workers take one connection per request: they spread out.
            assert post(browser, WRONG).status_code == 200
        sixth = post(browser, DEFAULT_PASSWORD)
        assert sixth.status_code == 200
        assert "Incorrect login or password" in sixth.text
    db.expire_all()
    assert services.user_by_login(db, "c.martin").failed_logins == 5
