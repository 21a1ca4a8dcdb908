"""Account administration: disabling at once (SEC-AUT-1b), resets, unlocks, refusals."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from portal import clock
from portal.accounts import authentication, services
from portal.accounts.actions import AccountAction
from portal.accounts.models import AccountToken, RecoveryCode, User
from portal.audit.models import AuditEvent
from portal.permissions import Role
from tests.helpers_auth import DEFAULT_PASSWORD, login, make_user, outbox, totp_code

LINK = re.compile(r"(/activate/[A-Za-z0-9_-]+)")


def _audit(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _admin_client(app, db):  # noqa: ANN001, ANN202
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    client = app.test_client()
    login(client, admin)
    return admin, client


def test_disabling_ends_the_sessions_and_voids_the_factors_at_once(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, enrolled=False)
    person = app.test_client()
    person.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    enrolled = person.post("/login/enrol", data={"code": totp_code(app, user)})
    codes = re.findall(r"<code>([0-9a-f-]{19})</code>", enrolled.get_data(as_text=True))
    assert person.get("/account").status_code == 200
    pending_reset = services.reset_user(db, services.Actor("cli", "tests"), user)
    db.commit()
    login(person, user)  # the reset ended the first session; log in again
    db.expire_all()
    old_secret = authentication.totp_secret(db, db.get(User, user.id))

    _, admin = _admin_client(app, db)
    response = admin.post("/admin/users/disable", data={"user_id": str(user.id)})
    assert response.headers["Location"] == "/admin/users/"
    assert "Disabled" in admin.get("/admin/users/").get_data(as_text=True)

    # The person's very next request is logged out.
    assert person.get("/account").headers["Location"].startswith("/login")
    db.expire_all()
    disabled = db.get(User, user.id)
    assert disabled.totp_secret_sealed is None and disabled.totp_confirmed_at is None
    assert db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    assert all(t.voided_at or t.used_at for t in db.scalars(
        select(AccountToken).where(AccountToken.user_id == user.id)))
    valid_code = pyotp.TOTP(old_secret).at(clock.now())
    assert authentication.check_totp(db, disabled, valid_code) is authentication.CodeCheck.WRONG
    assert not authentication.use_recovery_code(db, disabled, codes[0])
    db.commit()
    # The password no longer opens anything, and the refusal looks like any other.
    refused = person.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    assert refused.status_code == 200
    assert "Incorrect login or password" in refused.get_data(as_text=True)
    # The old reset link died too.
    fresh = app.test_client()
    fresh.get(f"/activate/{pending_reset}")
    assert fresh.get("/activate").status_code == 400
    event = _audit(db, AccountAction.USER_DISABLE)[0]
    assert event.details == {"sessions_ended": 1} and event.actor_label == "h.petit"


def test_an_administrator_cannot_disable_themselves(app, db) -> None:  # noqa: ANN001
    admin_user, admin = _admin_client(app, db)
    response = admin.post("/admin/users/disable", data={"user_id": str(admin_user.id)},
                          follow_redirects=True)
    assert "cannot disable your own account" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(User, admin_user.id).disabled_at is None


def test_reset_from_the_page_mails_a_new_link(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    _, admin = _admin_client(app, db)
    response = admin.post("/admin/users/reset", data={"user_id": str(user.id),
                                                      "reset_second_factor": "y"})
    assert response.headers["Location"] == "/admin/users/"
    mails = [m for m in outbox(app) if m["To"] == "c.martin@example.org"]
    assert len(mails) == 1 and "new password" in mails[0]["Subject"]
    link = LINK.search(mails[0].get_body().get_content()).group(1)
    client = app.test_client()
    client.get(link)
    assert client.post("/activate", data={"new_password": "Tq7!vLm#2xRp",
                                          "confirm": "Tq7!vLm#2xRp"}
                       ).headers["Location"] == "/login/enrol"


def test_unlock_from_the_page(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    _, admin = _admin_client(app, db)
    stranger = app.test_client()
    for _ in range(5):
        stranger.post("/login", data={"login": "c.martin", "password": "Wrong-Pass-2026!"})
    assert "Locked" in admin.get("/admin/users/").get_data(as_text=True)
    admin.post("/admin/users/unlock", data={"user_id": str(user.id)})
    assert stranger.post("/login", data={"login": "c.martin", "password": DEFAULT_PASSWORD}
                         ).status_code == 302
    assert _audit(db, AccountAction.USER_UNLOCK)[0].actor_label == "h.petit"


def test_actions_name_the_account_in_the_body_and_refuse_nonsense(app, db) -> None:  # noqa: ANN001
    _, admin = _admin_client(app, db)
    assert admin.post("/admin/users/disable", data={"user_id": "abc"}).status_code == 400
    assert admin.post("/admin/users/disable", data={"user_id": "9999"}).status_code == 404
    assert admin.post("/admin/users/disable", data={}).status_code == 400
    assert admin.get("/admin/users/disable").status_code == 405


def test_non_administrators_are_refused_and_the_refusal_is_audited(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = app.test_client()
    login(client, user)
    for method, path in (("GET", "/admin/users/"), ("GET", "/admin/users/new"),
                         ("POST", "/admin/users/disable")):
        response = client.open(path, method=method, data={"user_id": str(user.id)})
        assert response.status_code == 403, path
    denied = _audit(db, AccountAction.PERMISSION_DENIED)
    assert [e.details["endpoint"] for e in denied] == ["users.list_users", "users.create",
                                                      "users.disable"]
    assert all(e.outcome == "denied" and e.actor_id == user.id for e in denied)
    assert all(e.details["missing"] == "accounts:user:admin" for e in denied)
    db.expire_all()
    assert db.get(User, user.id).disabled_at is None


def test_the_menu_shows_users_to_administrators_only(app, db) -> None:  # noqa: ANN001
    _, admin = _admin_client(app, db)
    assert 'href="/admin/users/"' in admin.get("/").get_data(as_text=True)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = app.test_client()
    login(client, user)
    assert 'href="/admin/users/"' not in client.get("/").get_data(as_text=True)


def test_cli_disable_and_reset(app, db, runner) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = app.test_client()
    login(client, user)
    reset = runner.invoke(args=["users", "reset", "c.martin", "--second-factor"])
    assert reset.exit_code == 0, reset.output
    assert "/activate/" in reset.output and "Sessions of c.martin ended" in reset.output
    assert client.get("/account").headers["Location"].startswith("/login")
    disabled = runner.invoke(args=["users", "disable", "c.martin"])
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    again = runner.invoke(args=["users", "disable", "c.martin"])
    assert again.exit_code != 0 and "already disabled" in again.output
    missing = runner.invoke(args=["users", "unlock", "nobody.here"])
    assert missing.exit_code != 0
    listing = runner.invoke(args=["users", "list"])
    assert "c.martin" in listing.output and "disabled" in listing.output
    assert all(e.actor_kind == "cli" for e in _audit(db, AccountAction.USER_DISABLE))
