"""Accounts and single-use links (SEC-AUT-1a, 4a, 2h): created by an administrator."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.accounts import services
from portal.accounts.actions import AccountAction
from portal.accounts.models import AccountToken, User
from portal.audit.models import AuditEvent
from portal.errors import Forbidden
from portal.permissions import Role
from tests.helpers_auth import (
    CLI,
    login,
    mail_body,
    make_user,
    outbox,
    totp_code,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW_PASSWORD = "Tq7!vLm#2xRp"
LINK = re.compile(r"http://127\.0\.0\.1:5000(/activate/[A-Za-z0-9_-]+)")


def new_account(db, login: str = "j.lefebvre") -> tuple[User, str]:  # noqa: ANN001
    user, token = services.create_user(db, CLI, services.NewAccount(
        login, "Julien", "Lefebvre", f"{login}@example.org"))
    db.commit()
    return user, token


def activate(client, token: str, password: str = NEW_PASSWORD):  # noqa: ANN001, ANN201
    opened = client.get(f"/activate/{token}")
    assert opened.status_code == 302 and opened.headers["Location"] == "/activate"
    return client.post("/activate", data={"new_password": password, "confirm": password})


# --- accounts --------------------------------------------------------------------------------


def test_logins_are_unique_whatever_their_case(app, db) -> None:  # noqa: ANN001
    """SEC-AUT-1a: a functional unique index on the normalised login."""
    new_account(db, "alice.b")
    with pytest.raises(services.AccountError, match="already taken"):
        services.create_user(db, CLI, services.NewAccount("ALICE.B", "A", "B", "a@example.org"))
    db.rollback()
    # The database refuses it too, whatever the code does.
    db.add(User(login="Alice.B", login_normalised="alice.b", first_name="A", last_name="B",
                email="x@example.org", created_at=clock.now()))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()
    indexes = inspect(db.get_bind()).get_indexes("users")
    assert any(ix["unique"] and ix["column_names"] == ["login_normalised"] for ix in indexes)
    assert services.normalise_login(" ＡＬＩＣＥ.B ") == "alice.b"  # NFKC + casefold


def test_generic_logins_are_refused(app, db) -> None:  # noqa: ANN001
    for name in ("admin", "Root", "test", "demo", "admin2", "test.user", "support-1"):
        with pytest.raises(services.AccountError, match="generic login"):
            services.create_user(db, CLI, services.NewAccount(name, "A", "B", "a@example.org"))


def test_bad_account_values_name_their_field(app, db) -> None:  # noqa: ANN001
    for field, value in (("login", "a"), ("login", "c martin"), ("email", "not-an-address"),
                         ("rpps", "12345678901"), ("phone", "call me"), ("locale", "de")):
        data = {"login": "c.martin", "first_name": "Claire", "last_name": "Martin",
                "email": "c.martin@example.org", field: value}
        with pytest.raises(services.AccountError) as refused:
            services.create_user(db, CLI, services.NewAccount(**data))
        assert refused.value.field == field, (field, value)


def test_only_account_administrators_create_accounts(app, db) -> None:  # noqa: ANN001
    prescriber = make_user(db, "c.martin", role=Role.PRESCRIBER)
    with pytest.raises(Forbidden):
        services.create_user(db, prescriber, services.NewAccount(
            "j.lefebvre", "Julien", "Lefebvre", "j.lefebvre@example.org"))


# --- links -----------------------------------------------------------------------------------


def test_the_token_has_256_bits_and_only_its_hash_is_stored(app, db) -> None:  # noqa: ANN001
    user, token = new_account(db)
    assert len(token) >= 43  # token_urlsafe(32): 256 bits
    stored = db.scalars(select(AccountToken).where(AccountToken.user_id == user.id)).one()
    assert stored.token_hash == services.token_hash(token) != token
    assert token not in str([stored.token_hash, stored.purpose])
    assert stored.expires_at - stored.created_at == timedelta(hours=24)


def test_activation_sets_the_password_then_asks_for_enrolment(app, db, client) -> None:  # noqa: ANN001
    user, token = new_account(db)
    response = activate(client, token)
    assert response.headers["Location"] == "/login/enrol"
    # The token left the address at once and is not in the session cookie either.
    with client.session_transaction() as flask_session:
        assert token not in str(dict(flask_session))
    assert client.get("/account").headers["Location"] == "/login/enrol"
    db.expire_all()
    assert db.get(User, user.id).password_hash.startswith("$argon2id$")
    assert db.scalars(select(AuditEvent.action).where(
        AuditEvent.action == AccountAction.PASSWORD_RESET)).one()


def test_a_link_works_once(app, db) -> None:  # noqa: ANN001
    _, token = new_account(db)
    assert activate(app.test_client(), token).status_code == 302
    again = activate(app.test_client(), token, "Another-Pass-2026!")
    assert again.status_code == 400
    assert "no longer valid" in again.get_data(as_text=True)


def test_a_link_dies_after_24_hours(app, db) -> None:  # noqa: ANN001
    with clock.frozen(T0) as frozen:
        _, token = new_account(db)
        frozen.tick(timedelta(hours=23, minutes=59))
        client = app.test_client()
        client.get(f"/activate/{token}")
        assert client.get("/activate").status_code == 200
        frozen.tick(timedelta(minutes=1, seconds=1))
        assert activate(app.test_client(), token).status_code == 400


def test_a_newer_link_kills_the_older(app, db) -> None:  # noqa: ANN001
    user, first = new_account(db)
    second = services.reset_user(db, CLI, user)
    db.commit()
    assert activate(app.test_client(), first).status_code == 400
    assert activate(app.test_client(), second).status_code == 302


def test_a_login_after_the_link_was_issued_kills_it(app, db) -> None:  # noqa: ANN001
    """The warehouse pattern: a reset link is void once the person logged in again."""
    with clock.frozen(T0) as frozen:
        user = make_user(db, "c.martin", role=Role.PRESCRIBER)
        token = services.reset_user(db, CLI, user)
        db.commit()
        frozen.tick(timedelta(minutes=1))
        login(app.test_client(), user)
        assert activate(app.test_client(), token).status_code == 400


def test_a_reset_ends_sessions_and_still_asks_for_the_code(app, db) -> None:  # noqa: ANN001
    """SEC-AUT-2h: the reset flow ends at the TOTP step, not in a session."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    logged = app.test_client()
    login(logged, user)
    token = services.reset_user(db, CLI, user)
    db.commit()
    assert logged.get("/account").headers["Location"].startswith("/login")
    client = app.test_client()
    assert activate(client, token).headers["Location"] == "/login/code"
    assert client.get("/account").headers["Location"] == "/login/code"
    client.post("/login/code", data={"code": totp_code(app, user)})
    assert client.get("/account").status_code == 200
    assert any("password was changed" in m["Subject"] for m in outbox(app))


def test_a_reset_of_the_second_factor_means_enrolling_again(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    token = services.reset_user(db, CLI, user, reset_second_factor=True)
    db.commit()
    db.expire_all()
    assert db.get(User, user.id).totp_confirmed_at is None
    assert activate(app.test_client(), token).headers["Location"] == "/login/enrol"
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == AccountAction.USER_RESET))
    assert event.one().details == {"second_factor_reset": True, "sessions_ended": 0}


def test_the_activation_form_refuses_a_weak_password(app, db, client) -> None:  # noqa: ANN001
    _, token = new_account(db)
    response = activate(client, token, "Lefebvre2026!Xy")
    assert response.status_code == 200
    assert "contains your login" in response.get_data(as_text=True)
    # The link is still usable after a refused password.
    done = client.post("/activate", data={"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302


def test_a_garbage_link_shows_the_invalid_page(app, client) -> None:  # noqa: ANN001
    assert client.get("/activate/" + "x" * 500).headers["Location"] == "/activate"
    assert client.get("/activate").status_code == 400
    assert client.get("/activate/abc").status_code == 302
    assert client.get("/activate").status_code == 400


# --- administration pages --------------------------------------------------------------------


def test_an_administrator_creates_an_account_and_the_link_is_mailed(app, db) -> None:  # noqa: ANN001
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    client = app.test_client()
    login(client, admin)
    form = client.get("/admin/users/new")
    assert form.status_code == 200 and 'type="password"' not in form.get_data(as_text=True)
    response = client.post("/admin/users/new", data={
        "login": "J.Lefebvre", "first_name": "Julien", "last_name": "Lefebvre",
        "email": "j.lefebvre@example.org", "rpps": "10009876540", "locale": "fr"})
    assert response.headers["Location"] == "/admin/users/"
    listing = client.get("/admin/users/").get_data(as_text=True)
    assert "J.Lefebvre" in listing and "Waiting for activation" in listing
    mails = [m for m in outbox(app) if m["To"] == "j.lefebvre@example.org"]
    assert len(mails) == 1
    body = mail_body(mails[0])
    assert "J.Lefebvre" in body and "24" in body
    link = LINK.search(body).group(1)
    assert "Lefebvre" not in link and "@" not in link
    newcomer = app.test_client()
    assert newcomer.get(link).headers["Location"] == "/activate"
    assert newcomer.post("/activate", data={"new_password": NEW_PASSWORD,
                                            "confirm": NEW_PASSWORD}).status_code == 302
    # The administrator never saw the password: only a hash exists, mailed nowhere.
    for message in outbox(app):
        assert NEW_PASSWORD not in message.as_string()
    created = db.scalars(select(User).where(User.login_normalised == "j.lefebvre")).one()
    assert created.rpps == "10009876540" and created.locale == "fr"


def test_the_create_form_reports_a_taken_login_on_its_field(app, db) -> None:  # noqa: ANN001
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    make_user(db, "c.martin")
    client = app.test_client()
    login(client, admin)
    response = client.post("/admin/users/new", data={
        "login": "C.MARTIN", "first_name": "Claire", "last_name": "Martin",
        "email": "c.martin@example.org"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "already taken" in page and 'aria-invalid="true"' in page


def test_cli_create_prints_the_link_and_audits_the_operator(app, db, runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["users", "create", "h.petit", "--first-name", "Hugo",
                                 "--last-name", "Petit", "--email", "h.petit@example.org"])
    assert result.exit_code == 0, result.output
    link = LINK.search(result.output).group(1)
    client = app.test_client()
    client.get(link)
    assert client.get("/activate").status_code == 200
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == AccountAction.USER_CREATE))
    assert event.one().actor_kind == "cli"
    refused = runner.invoke(args=["users", "create", "admin", "--first-name", "A",
                                  "--last-name", "B", "--email", "a@example.org"])
    assert refused.exit_code != 0 and "generic login" in refused.output
