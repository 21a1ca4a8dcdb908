"""Logging in: both factors (SEC-AUT-2a/2b), no enumeration (SEC-AUT-3i), sessions (SEC-SES)."""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from portal import clock
from portal.accounts import sessions
from portal.accounts.actions import AccountAction
from portal.accounts.models import User, UserSession
from portal.audit.models import AuditEvent
from portal.permissions import Permission, Role, declared_access, requires
from tests.conftest import make_test_config
from tests.helpers_auth import DEFAULT_PASSWORD, login, make_user, totp_code

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def add_protected_pages(app: Flask) -> None:
    """Two pages behind permissions, added before the app serves its first request."""

    @app.get("/_t/inside")
    @requires(Permission.SESSION_USE)
    def inside() -> str:
        return "inside the portal"

    @app.get("/_t/patients")
    @requires(Permission.PATIENT_READ)
    def patients() -> str:
        return "patient data"


def example_url(app: Flask, rule) -> str:  # noqa: ANN001
    """Build a URL for `rule` with a plausible value for each of its variables."""
    import uuid

    from werkzeug.routing.converters import AnyConverter, IntegerConverter, UUIDConverter

    values: dict[str, object] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = 1
        elif isinstance(converter, UUIDConverter):
            values[name] = uuid.uuid4()
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "x"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def actions(db, user: User | None = None) -> list[str]:  # noqa: ANN001
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if user is not None:
        query = query.where(AuditEvent.actor_id == user.id)
    db.expire_all()
    return [event.action for event in db.scalars(query)]


def password_only(client, user: User, password: str = DEFAULT_PASSWORD):  # noqa: ANN001, ANN201
    return client.post("/login", data={"login": user.login, "password": password})


def _sid(client) -> str | None:  # noqa: ANN001
    with client.session_transaction() as flask_session:
        return flask_session.get(sessions.SESSION_KEY)


# --- the two steps -------------------------------------------------------------------------


def test_full_login_reaches_a_protected_page(app, db, client) -> None:  # noqa: ANN001
    add_protected_pages(app)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    assert client.get("/_t/inside").status_code == 302
    response = login(client, user)
    assert response.headers["Location"] == "/"
    page = client.get("/_t/inside")
    assert page.status_code == 200
    assert page.get_data(as_text=True) == "inside the portal"
    home = client.get("/").get_data(as_text=True)
    assert "Camille Martin" in home and 'action="/logout"' in home
    assert actions(db, user)[-2:] == [AccountAction.PASSWORD_VERIFIED, AccountAction.LOGIN_SUCCESS]


def test_the_password_alone_opens_no_page(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-2a: after the password, every non-public endpoint sends to the code step."""
    add_protected_pages(app)
    user = make_user(db, "c.martin", role=Role.ADMINISTRATOR)
    assert password_only(client, user).headers["Location"] == "/login/code"
    checked = 0
    for rule in app.url_map.iter_rules():
        if not declared_access(app.view_functions[rule.endpoint]):
            continue  # public pages show no personal data and check their own state
        url = example_url(app, rule)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            response = client.open(url, method=method)
            assert response.status_code in (302, 303), (rule.rule, method, response.status_code)
            assert response.headers["Location"] == "/login/code", rule.rule
            checked += 1
    assert checked >= 5
    with client.session_transaction() as flask_session:
        assert flask_session.get(sessions.SESSION_KEY)
    assert db.scalar(select(UserSession).where(UserSession.user_id == user.id)).mfa_at is None


def test_an_account_without_second_factor_is_sent_to_enrolment(app, db, client) -> None:  # noqa: ANN001
    add_protected_pages(app)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, enrolled=False)
    assert password_only(client, user).headers["Location"] == "/login/enrol"
    assert client.get("/_t/inside").headers["Location"] == "/login/enrol"
    assert client.get("/login/code").headers["Location"] == "/login/enrol"


def test_the_pending_state_is_server_side_and_expires_after_five_minutes(
    app, db, client  # noqa: ANN001
) -> None:
    """SEC-AUT-2b: nothing in the address; +301 s and the code no longer opens a session."""
    with clock.frozen(T0) as frozen:
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        response = password_only(client, user)
        assert "?" not in response.headers["Location"]
        frozen.tick(timedelta(seconds=299))
        assert client.get("/login/code").status_code == 200
        frozen.tick(timedelta(seconds=2))
        refused = client.post("/login/code", data={"code": totp_code(app, user)})
        assert refused.headers["Location"] == "/login"
        assert "/login" in client.get("/account").headers["Location"]
        refused_page = client.get("/login").get_data(as_text=True)
        assert "Please log in again" in refused_page or "run out" in refused_page


def test_a_wrong_code_keeps_the_pending_state_without_access(app, db, client) -> None:  # noqa: ANN001
    add_protected_pages(app)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    password_only(client, user)
    response = client.post("/login/code", data={"code": "000000"})
    assert response.status_code == 200
    assert "not valid or was already used" in response.get_data(as_text=True)
    assert client.get("/_t/inside").headers["Location"] == "/login/code"
    assert actions(db, user)[-1] == AccountAction.TOTP_FAILURE


def test_next_is_followed_only_when_local(app, db, client) -> None:  # noqa: ANN001
    add_protected_pages(app)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    assert client.get("/_t/inside").headers["Location"] == "/login?next=/_t/inside"
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD,
                                "next": "/_t/inside"})
    done = client.post("/login/code", data={"code": totp_code(app, user)})
    assert done.headers["Location"] == "/_t/inside"
    client.post("/logout")
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD,
                                "next": "https://evil.example/steal"})
    done = client.post("/login/code", data={"code": totp_code(app, user)})
    assert done.headers["Location"] == "/"


# --- enumeration ---------------------------------------------------------------------------


def _masked(body: str, login: str) -> str:
    body = re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", body)
    return body.replace(login, "LOGIN")


def test_unknown_login_wrong_password_and_locked_look_the_same(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-3i: same status and body (login echoed back masked)."""
    make_user(db, "c.martin", role=Role.PRESCRIBER)
    make_user(db, "j.lefebvre", role=Role.PRESCRIBER)
    wrong = client.post("/login", data={"login": "c.martin", "password": "Wrong-Pass-2026!"})
    unknown = client.post("/login", data={"login": "x.personne", "password": "Wrong-Pass-2026!"})
    for _ in range(5):
        client.post("/login", data={"login": "j.lefebvre", "password": "Wrong-Pass-2026!"})
    locked = client.post("/login", data={"login": "j.lefebvre", "password": DEFAULT_PASSWORD})
    disabled_like = client.post("/login", data={"login": "", "password": "x"})
    assert wrong.status_code == unknown.status_code == locked.status_code == 200
    bodies = {_masked(r.get_data(as_text=True), login)
              for r, login in ((wrong, "c.martin"), (unknown, "x.personne"),
                               (locked, "j.lefebvre"))}
    assert len(bodies) == 1
    assert "Incorrect login or password" in bodies.pop()
    assert disabled_like.status_code == 200  # an empty form is a form error, not a 500


def test_every_refused_login_costs_exactly_one_argon2_verification(app, db, client,  # noqa: ANN001
                                                                   monkeypatch) -> None:
    """SEC-AUT-3i: unknown login, wrong password, disabled or not activated account: each runs
    one verification with the profile's parameters (the dummy hash is made with them)."""
    from argon2 import PasswordHasher

    from portal.accounts.services import disable_user
    from tests.helpers_auth import CLI

    make_user(db, "c.martin", role=Role.PRESCRIBER)
    make_user(db, "j.lefebvre", password=None)  # never activated
    gone = make_user(db, "s.moreau")
    disable_user(db, CLI, gone)
    db.commit()
    costs: list[str] = []
    original = PasswordHasher.verify

    def counting(self, stored, password):  # noqa: ANN001, ANN202
        costs.append(stored.split("$")[3])  # m=...,t=...,p=...
        return original(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    for name in ("c.martin", "x.personne", "j.lefebvre", "s.moreau"):
        costs.clear()
        response = client.post("/login", data={"login": name, "password": "Wrong-Pass-2026!"},
                               environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert response.status_code == 200
        assert costs == ["m=1024,t=1,p=1"], name


def test_an_unknown_login_takes_as_long_as_a_wrong_password(tmp_path, key_file,  # noqa: ANN001
                                                           monkeypatch) -> None:
    """SEC-AUT-3i timing: attempts alternate between a real account and an unknown login.

    The median of the per-pair time ratios must stay within 20 % of 1 (the checklist asks for
    10 %, which a shared CI machine cannot measure reliably; without the dummy verification
    the ratio falls to about 0.4). Exactly one verification per attempt is checked above.
    """
    from sqlalchemy import delete, update

    from portal import create_app
    from portal.accounts.models import LoginFailure
    from portal.db import new_session
    from tests.conftest import app_database

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    costly = {"time_cost": 2, "memory_cost": 65536, "parallelism": 1}
    app = create_app(make_test_config(tmp_path, key_file, PASSWORD_HASHER=costly,
                                      RATELIMIT_ENABLED=True))
    with app_database(app):
        with new_session(app) as db:
            known_logins = [make_user(db, name).login for name in ("c.martin", "j.lefebvre")]
        client = app.test_client()
        ratios = []
        for attempt in range(12):
            with new_session(app) as db:
                # Each attempt is a first failure for both logins: no lock interferes.
                db.execute(update(User).values(failed_logins=0, locked_until=None))
                db.execute(delete(LoginFailure))
                db.commit()
            timings = []
            for name in (known_logins[attempt % 2], f"x.inconnu{attempt}"):
                start = time.perf_counter()
                response = client.post("/login", data={"login": name,
                                                       "password": "Wrong-Pass-2026!"},
                                       environ_base={"REMOTE_ADDR": f"10.1.{attempt}.1"})
                timings.append(time.perf_counter() - start)
                assert response.status_code == 200
            ratios.append(timings[1] / timings[0])
        assert abs(statistics.median(ratios) - 1) < 0.20, sorted(ratios)


# --- sessions ------------------------------------------------------------------------------


def test_a_new_session_id_at_login_and_after_the_code(app, db, client) -> None:  # noqa: ANN001
    """SEC-SES-2: the id changes at each step, the earlier one is dead, the CSRF token rotates."""
    add_protected_pages(app)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    with client.session_transaction() as flask_session:
        flask_session["csrf_token"] = "before-login-token"
    password_only(client, user)
    pending_id = _sid(client)
    with client.session_transaction() as flask_session:
        assert flask_session.get("csrf_token") != "before-login-token"
    client.post("/login/code", data={"code": totp_code(app, user)})
    full_id = _sid(client)
    assert pending_id and full_id and pending_id != full_id
    assert client.get("/_t/inside").status_code == 200
    # Someone holding the pending id gets nothing.
    thief = app.test_client()
    with thief.session_transaction() as flask_session:
        flask_session[sessions.SESSION_KEY] = pending_id
    assert thief.get("/_t/inside").headers["Location"].startswith("/login")


def test_a_copied_cookie_stops_working_after_logout(app, db, client) -> None:  # noqa: ANN001
    """SEC-SES-1: logout revokes the record on the server."""
    add_protected_pages(app)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    copied = _sid(client)
    thief = app.test_client()
    with thief.session_transaction() as flask_session:
        flask_session[sessions.SESSION_KEY] = copied
    assert thief.get("/_t/inside").status_code == 200
    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    assert client.get("/_t/inside").headers["Location"].startswith("/login")
    assert thief.get("/_t/inside").headers["Location"].startswith("/login")
    assert AccountAction.LOGOUT in actions(db, user)


def test_logout_is_a_post(app, client) -> None:  # noqa: ANN001
    assert client.get("/logout").status_code == 405


def test_idle_timeout_thirty_minutes(app, db, client) -> None:  # noqa: ANN001
    add_protected_pages(app)
    with clock.frozen(T0) as frozen:
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        login(client, user)
        frozen.tick(timedelta(minutes=29, seconds=59))
        assert client.get("/_t/inside").status_code == 200
        frozen.tick(timedelta(minutes=30, seconds=1))
        response = client.get("/_t/inside")
        assert response.headers["Location"].startswith("/login")
        assert "Your session has expired" in client.get("/login").get_data(as_text=True)


def test_absolute_lifetime_twelve_hours_even_when_active(app, db, client) -> None:  # noqa: ANN001
    add_protected_pages(app)
    with clock.frozen(T0) as frozen:
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        login(client, user)
        while frozen.at < T0 + timedelta(hours=12) - timedelta(minutes=10):
            frozen.tick(timedelta(minutes=10))
            assert client.get("/_t/inside").status_code == 200, frozen.at
        frozen.tick(T0 + timedelta(hours=12, seconds=1) - frozen.at)
        assert client.get("/_t/inside").headers["Location"].startswith("/login")


def test_no_remember_me_cookie_is_ever_set(app, db, client) -> None:  # noqa: ANN001
    """SEC-SES-4."""
    from pathlib import Path

    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    first = client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    second = client.post("/login/code", data={"code": totp_code(app, user)})
    for response in (first, second):
        for header in response.headers.getlist("Set-Cookie"):
            assert "remember" not in header.lower()
    source = "\n".join(p.read_text() for p in Path("portal").rglob("*.py"))
    assert "remember=True" not in source


def test_session_cookie_flags_in_production_shape(tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    """SEC-SES-5: __Host- prefix, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain."""
    from portal import create_app
    from portal.db import new_session
    from tests.conftest import app_database
    from tests.helpers_auth import CHEAP_ARGON2

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(make_test_config(tmp_path, key_file, SESSION_COOKIE_SECURE=True,
                                      PASSWORD_HASHER=CHEAP_ARGON2))
    with app_database(app):
        with new_session(app) as db:
            user = make_user(db, "c.martin")
        client = app.test_client()
        response = client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD},
                               base_url="https://portal.example")
        cookie = next(h for h in response.headers.getlist("Set-Cookie")
                      if h.startswith("__Host-aac_session="))
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "path"} <= attributes
        assert "samesite=lax" in cookie.lower()
        assert "path=/" in cookie.lower()
        assert "domain" not in attributes


def test_audit_entries_carry_the_session_hash(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    client.post("/logout")
    db.expire_all()
    logout = db.scalars(select(AuditEvent).where(AuditEvent.action == AccountAction.LOGOUT)).one()
    record = db.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                  UserSession.mfa_at.is_not(None))).one()
    assert logout.session_hash == record.id_hash
    assert record.revoked_at is not None
