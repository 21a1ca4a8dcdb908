"""Passwords: storage, policy on the forms, change, renewal of administrators (SEC-AUT-3)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import clock, create_app
from portal.accounts import hashing
from portal.accounts.actions import AccountAction
from portal.accounts.forms import RULE_TEXTS
from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.config import ConfigError
from portal.permissions import Permission, Role, requires
from tests.conftest import make_test_config
from tests.helpers_auth import (
    CHEAP_ARGON2,
    DEFAULT_PASSWORD,
    login,
    make_user,
    outbox,
    totp_code,
)

PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _params(stored: str) -> tuple[int, int, int]:
    match = PHC.match(stored)
    assert match, stored
    return tuple(int(x) for x in match.groups())  # type: ignore[return-value]


def _hash_of(db, user: User) -> str:  # noqa: ANN001
    db.expire_all()
    return db.get(User, user.id).password_hash


def change(client, current: str, new: str, confirm: str | None = None):  # noqa: ANN001, ANN201
    return client.post("/account/password", data={
        "current_password": current, "new_password": new,
        "confirm": new if confirm is None else confirm})


# --- storage ---------------------------------------------------------------------------------


def test_production_and_development_hash_with_argon2_defaults(tmp_path, key_file,  # noqa: ANN001
                                                              monkeypatch) -> None:
    """SEC-AUT-3f: m = 65536 KiB, t = 3, p = 4 unless a test profile is set."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    config = make_test_config(tmp_path, key_file, ENV="development")
    del config["PASSWORD_HASHER"]  # the test configuration's cheap profile
    app = create_app(config)
    stored = hashing.hasher(app).hash("Tq7!vLm#2xRp")
    assert _params(stored) == (65536, 3, 4)
    again = hashing.hasher(app).hash("Tq7!vLm#2xRp")
    assert stored != again  # salted
    assert hashing.verify_password(stored, "Tq7!vLm#2xRp")


def test_production_refuses_a_cheap_hashing_profile(tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    config = make_test_config(tmp_path, key_file, ENV="production", SECRET_KEY="s" * 48,
                              SESSION_COOKIE_SECURE=True, PASSWORD_HASHER=CHEAP_ARGON2,
                              RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15",
                              MAIL_URL="smtp://relay.internal:25",
                              AUDIT_ANCHOR_DIR=str(tmp_path / "anchors"),
                              # a local file: the PostgreSQL test server speaks no TLS
                              DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}")
    with pytest.raises(ConfigError, match="PASSWORD_HASHER"):
        create_app(config)


def test_a_login_rehashes_when_the_parameters_changed(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    # A hash made with the production defaults; this app's profile is the cheap one.
    db.get(User, user.id).password_hash = hashing.hash_password(DEFAULT_PASSWORD)
    db.commit()
    assert _params(_hash_of(db, user)) == (65536, 3, 4)
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    assert _params(_hash_of(db, user)) == (CHEAP_ARGON2["memory_cost"], 1, 1)
    # A wrong password never rewrites the hash.
    before = _hash_of(db, user)
    client.post("/logout")
    client.post("/login", data={"login": user.login, "password": "Wrong-Pass-2026!"})
    assert _hash_of(db, user) == before


def test_128_characters_are_kept_whole_and_129_refused(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-3b: no truncation."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    long_password = ("Xk7#" * 32)[:127] + "Q"
    assert len(long_password) == 128
    assert change(client, DEFAULT_PASSWORD, long_password).status_code == 302
    client.post("/logout")
    near = long_password[:-1] + "R"
    assert client.post("/login", data={"login": user.login, "password": near}).status_code == 200
    assert client.post("/login", data={"login": user.login, "password": long_password}
                       ).status_code == 302
    client.post("/login/code", data={"code": totp_code(app, user)})
    refused = change(client, long_password, long_password + "Z")
    assert refused.status_code == 200
    assert "longer than 128 characters" in refused.get_data(as_text=True)


def test_unicode_passphrases_are_accepted_and_not_case_folded(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-3c: spaces and accents accepted; same NFC form at set and verify; case matters."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    phrase = "mot de passe très long été 2026"
    assert change(client, DEFAULT_PASSWORD, unicodedata.normalize("NFC", phrase)
                  ).status_code == 302
    client.post("/logout")
    upper = client.post("/login", data={"login": user.login, "password": phrase.upper()})
    assert upper.status_code == 200
    decomposed = unicodedata.normalize("NFD", phrase)
    assert client.post("/login", data={"login": user.login, "password": decomposed}
                       ).status_code == 302


def test_the_change_form_shows_why_a_password_is_refused(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    for password, message in (
        ("Tq7!vLm#2xR", "shorter than 12 characters"),
        ("Tq7vLm2xRpWk", "does not meet any of the accepted rules"),
        ("Motdepasse123!", "common password"),
        ("Martin2026!Xy", "contains your login"),
        ("Exemple-2026-Tq7!vL", "contains your login"),  # the laboratory's name
        ("vrpkeqztmxlbnwsdh", "does not meet any of the accepted rules"),  # 17 lower-case
        ("lune verte saute sur six toits", "does not meet any of the accepted rules"),
    ):
        response = change(client, DEFAULT_PASSWORD, password)
        assert response.status_code == 200, password
        assert message in response.get_data(as_text=True), password
    assert hashing.hasher(app).verify(_hash_of(db, user), DEFAULT_PASSWORD)


def test_the_change_form_accepts_each_cnil_rule(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-3a: one vector per accepted rule, each replacing the previous password."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    current = DEFAULT_PASSWORD
    for password in ("Tq7!vLm#2xRp", "Tq7vLm2xRpWk9Z", "vrpkeqztmxlbnwsdhy",
                     "4829105736284910573829104", "lune verte saute sur sept toits rouges"):
        assert change(client, current, password).status_code == 302, password
        current = password
    assert hashing.hasher(app).verify(_hash_of(db, user), current)


def test_the_rules_are_shown_on_every_form_setting_a_password(app, db, client) -> None:  # noqa: ANN001
    """SEC-AUT-3g."""
    from portal.accounts import services
    from portal.accounts.password_policy import RULES
    from tests.helpers_auth import CLI

    assert set(RULE_TEXTS) == {rule.key for rule in RULES}
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    change_page = client.get("/account/password").get_data(as_text=True)
    newcomer, token = services.create_user(db, CLI, services.NewAccount(
        "j.lefebvre", "Julien", "Lefebvre", "j.lefebvre@example.org"))
    db.commit()
    other = app.test_client()
    activation_page = other.get(f"/activate/{token}", follow_redirects=True).get_data(
        as_text=True)
    for page in (change_page, activation_page):
        for key in RULE_TEXTS:
            assert str(RULE_TEXTS[key]).replace("'", "&#39;") in page, key
    assert newcomer.id


def test_changing_requires_the_current_password(app, db, client) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    refused = change(client, "Not-The-Password-1", "Tq7!vLm#2xRp")
    assert "current password is not correct" in refused.get_data(as_text=True)
    missing = change(client, "", "Tq7!vLm#2xRp")
    assert missing.status_code == 200
    assert hashing.hasher(app).verify(_hash_of(db, user), DEFAULT_PASSWORD)
    failure = db.scalars(select(AuditEvent).where(
        AuditEvent.action == AccountAction.PASSWORD_CHANGE, AuditEvent.outcome == "failure"))
    assert failure.one().details == {"reason": "bad_current_password"}
    same = change(client, DEFAULT_PASSWORD, DEFAULT_PASSWORD)
    assert "different from the current one" in same.get_data(as_text=True)
    mismatch = change(client, DEFAULT_PASSWORD, "Tq7!vLm#2xRp", "Tq7!vLm#2xRq")
    assert "two passwords differ" in mismatch.get_data(as_text=True)


def test_a_change_ends_other_sessions_and_is_mailed_without_the_password(app, db) -> None:  # noqa: ANN001
    """SEC-SES-6 and SEC-AUT-3g."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    here, elsewhere = app.test_client(), app.test_client()
    login(here, user)
    login(elsewhere, user)
    response = change(here, DEFAULT_PASSWORD, "Tq7!vLm#2xRp")
    assert response.headers["Location"] == "/account"
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").headers["Location"].startswith("/login")
    notices = [m for m in outbox(app) if "password was changed" in m["Subject"]]
    assert len(notices) == 1 and notices[0]["To"] == "c.martin@example.org"
    for message in outbox(app):
        assert "Tq7!vLm#2xRp" not in message.as_string()
        assert DEFAULT_PASSWORD not in message.as_string()
    changed = db.scalars(select(AuditEvent).where(
        AuditEvent.action == AccountAction.PASSWORD_CHANGE, AuditEvent.outcome == "success"))
    assert changed.one().details == {"sessions_ended": 1}


# --- renewal ---------------------------------------------------------------------------------


def _add_page(app) -> None:  # noqa: ANN001
    @app.get("/_t/inside")
    @requires(Permission.SESSION_USE)
    def inside() -> str:
        return "inside"


@pytest.mark.parametrize(("role", "forced"), [(Role.ADMINISTRATOR, True),
                                              (Role.PRESCRIBER, False)])
def test_only_administrators_renew_their_password_after_365_days(app, db, role,  # noqa: ANN001
                                                                 forced) -> None:
    """SEC-AUT-3h."""
    _add_page(app)
    with clock.frozen(T0) as frozen:
        user = make_user(db, "c.martin", role=role)
        # The password was chosen a year and a day ago (the account stayed in use since).
        db.get(User, user.id).password_changed_at = T0 - timedelta(days=366)
        db.commit()
        client = app.test_client()
        login(client, user)
        response = client.get("/_t/inside")
        if not forced:
            assert response.status_code == 200
            return
        assert response.headers["Location"] == "/account/password"
        page = client.get("/account/password").get_data(as_text=True)
        assert "You must choose a new password" in page
        assert change(client, DEFAULT_PASSWORD, "Tq7!vLm#2xRp").status_code == 302
        assert client.get("/_t/inside").status_code == 200
        frozen.tick(timedelta(days=100))
        assert client.get("/_t/inside").status_code == 302  # idle timeout, not renewal
        login(client, user, "Tq7!vLm#2xRp")
        assert client.get("/_t/inside").status_code == 200


def test_a_forced_change_blocks_every_page_but_the_form_and_logout(app, db, runner) -> None:  # noqa: ANN001
    _add_page(app)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    result = runner.invoke(args=["users", "force-change", "c.martin"])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    login(client, user)
    for path in ("/_t/inside", "/account", "/account/recovery-codes"):
        assert client.get(path).headers["Location"] == "/account/password", path
    assert client.get("/account/password").status_code == 200
    assert change(client, DEFAULT_PASSWORD, "Tq7!vLm#2xRp").status_code == 302
    assert client.get("/_t/inside").status_code == 200
    assert client.post("/logout").headers["Location"] == "/login"
    db.expire_all()
    assert not db.get(User, user.id).must_change_password


def test_the_password_is_never_in_a_log(app, db, client, caplog) -> None:  # noqa: ANN001
    """SEC-CRY-2b for this area: passwords, codes and session ids stay out of the logs."""
    import logging

    caplog.set_level(logging.DEBUG)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, user)
    change(client, DEFAULT_PASSWORD, "Tq7!vLm#2xRp")
    client.post("/login", data={"login": "c.martin", "password": "Wrong-Pass-2026!"})
    with client.session_transaction() as flask_session:
        session_id = flask_session.get("sid", "")
    text = caplog.text
    for secret in (DEFAULT_PASSWORD, "Tq7!vLm#2xRp", "Wrong-Pass-2026!"):
        assert secret not in text
    assert not session_id or session_id not in text
