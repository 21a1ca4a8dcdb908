"""A professional logs in through the federation; linking; the local path per role; logout."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.permissions import Role
from tests.federation.conftest import RPPS, authenticate, federated_login, start
from tests.helpers_auth import DEFAULT_PASSWORD, login, make_user


def _actions(db, since: int = 0) -> list[tuple[str, str, dict]]:  # noqa: ANN001
    db.expire_all()
    return [(e.action, e.outcome, e.details or {}) for e in
            db.scalars(select(AuditEvent).where(AuditEvent.seq > since).order_by(AuditEvent.seq))]


def _prescriber(db, *, password: str | None = None, rpps: str = RPPS):  # noqa: ANN001, ANN202
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, password=password)
    user.rpps = rpps
    db.commit()
    return user


def test_a_prescriber_without_password_logs_in_through_the_federation(app, db, client, provider):  # noqa: ANN001
    user = _prescriber(db)
    authorization = start(client)
    query = parse_qs(urlsplit(authorization).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0] and query["acr_values"] == ["eidas1"]
    assert query["scope"] == ["openid scope_all"]
    response = client.get(authenticate(authorization))
    assert response.status_code == 303, _actions(db)[-3:]
    assert client.get("/account").status_code == 200
    db.refresh(user)
    assert user.federated_subject == f"psc-{RPPS}"
    assert user.password_hash is None and user.totp_confirmed_at is None
    actions = [a for a, _o, _d in _actions(db)]
    assert "accounts:login:federation_link" in actions
    entry = next(d for a, _o, d in _actions(db) if a == "accounts:login:federated")
    assert entry["acr"] == "eidas1" and entry["profession"] == "10^1"


def test_the_next_login_compares_the_linked_subject(app, db, client, provider):  # noqa: ANN001
    _prescriber(db)
    assert federated_login(client).status_code == 303
    client.post("/logout")
    provider.identity = {**provider.identity, "sub": "someone-else"}
    response = federated_login(client)
    assert response.status_code == 403
    assert b"linked to another" in response.data
    assert ("accounts:login:federated_refused", "denied", {"reason": "subject_mismatch"}
            ) in _actions(db)


def test_an_existing_local_account_is_linked_after_its_local_login(app, db, client, provider):  # noqa: ANN001
    user = _prescriber(db, password=DEFAULT_PASSWORD)
    response = federated_login(client)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    db.refresh(user)
    assert user.federated_subject is None
    assert client.get("/account").status_code == 302  # no session yet
    # The local login is allowed this once although prescribers are refused it, and links.
    login(client, user)
    assert client.get("/account").status_code == 200
    db.refresh(user)
    assert user.federated_subject == f"psc-{RPPS}"
    assert ("accounts:login:federation_link", "success", {"after": "local_login"}
            ) in _actions(db)
    client.post("/logout")
    # From now on the federation alone opens the account.
    assert federated_login(client).status_code == 303
    assert client.get("/account").status_code == 200


def test_the_link_is_not_given_to_another_account_logging_in_locally(app, db, client, provider):  # noqa: ANN001
    user = _prescriber(db, password=DEFAULT_PASSWORD)
    other = make_user(db, "n.benali", role=Role.DPO)
    federated_login(client)
    login(client, other)
    db.refresh(user)
    db.refresh(other)
    assert user.federated_subject is None and other.federated_subject is None


def test_local_login_is_refused_for_prescribers_when_the_setting_says_so(app, db, client):  # noqa: ANN001
    user = _prescriber(db, password=DEFAULT_PASSWORD)
    user.federated_subject = "psc-linked"
    db.commit()
    response = client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    assert response.status_code == 403
    assert b"no longer allows logging in with a password" in response.data
    assert client.get("/account").status_code == 302
    assert ("accounts:login:failure", "denied", {"reason": "local_login_refused"}
            ) in _actions(db)


def test_staff_keep_their_local_login(app, db, client):  # noqa: ANN001
    staff = make_user(db, "n.benali", role=Role.DPO)
    login(client, staff)
    assert client.get("/account").status_code == 200


def test_local_login_of_prescribers_stays_when_no_role_is_refused(app_config, provider,
                                                                   monkeypatch, tmp_path):  # noqa: ANN001
    from portal import create_app
    from portal.db import new_session
    from tests.conftest import app_database

    app_config["FEDERATION_LOCAL_LOGIN_REFUSED_ROLES"] = ""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance2"))
    with app_database(create_app(app_config)) as application:
        with new_session(application) as db:
            user = _prescriber(db, password=DEFAULT_PASSWORD)
            client = application.test_client()
            login(client, user)
            assert client.get("/account").status_code == 200


def test_a_federated_session_follows_the_session_rules(app, db, client, provider, test_clock):  # noqa: ANN001
    from datetime import timedelta

    from portal import clock

    _prescriber(db)
    federated_login(client)
    assert client.get("/account").status_code == 200
    with clock.frozen(clock.now() + timedelta(minutes=31)):
        assert client.get("/account").status_code == 302  # idle for more than 30 minutes


def test_logout_ends_the_session_and_goes_to_the_provider(app, db, client, provider):  # noqa: ANN001
    _prescriber(db)
    federated_login(client)
    response = client.post("/logout")
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == provider.base
    assert target.path == "/end_session"
    query = parse_qs(target.query)
    assert query["client_id"] == ["aac-portal"] and query["id_token_hint"][0]
    assert query["post_logout_redirect_uri"] == ["http://127.0.0.1:5000/login/federation/logged-out"]
    assert client.get("/account").status_code == 302
    back = client.get("/login/federation/logged-out", follow_redirects=True)
    assert b"logged out of the portal and of Pro Sant" in back.data


def test_the_login_page_offers_the_federation(client):  # noqa: ANN001
    page = client.get("/login")
    assert b"Log in with Pro Sant" in page.data


def test_federation_pages_are_absent_while_it_is_off(app_config, monkeypatch, tmp_path):  # noqa: ANN001
    from portal import create_app

    app_config["FEDERATION_DISCOVERY_URL"] = ""
    app_config["FEDERATION_LOCAL_LOGIN_REFUSED_ROLES"] = ""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance3"))
    client = create_app(app_config).test_client()
    assert client.post("/login/federation").status_code == 404
    assert b"Log in with Pro Sant" not in client.get("/login").data


@pytest.mark.parametrize("kind", ["json", "jwt"])
def test_userinfo_is_read_as_json_or_signed_jwt(app, db, client, provider, kind):  # noqa: ANN001
    _prescriber(db)
    provider.tamper["userinfo_jwt"] = kind == "jwt"
    # The RPPS comes from userinfo only: the ID token does not carry it.
    assert federated_login(client).status_code == 303
    assert client.get("/account").status_code == 200


def test_a_forced_password_change_does_not_trap_a_federated_session(app, db, client, provider):  # noqa: ANN001
    user = _prescriber(db)
    user.must_change_password = True
    db.commit()
    federated_login(client)
    assert client.get("/account").status_code == 200


def test_a_started_login_dies_after_ten_minutes(app, db, client, provider):  # noqa: ANN001
    from datetime import timedelta

    from portal import clock

    _prescriber(db)
    callback = authenticate(start(client))
    with clock.frozen(clock.now() + timedelta(minutes=11)):
        response = client.get(callback)
    assert response.status_code == 400
    assert client.get("/account").status_code == 302


def test_the_client_secret_is_sent_to_the_token_endpoint_only(app, db, client, provider):  # noqa: ANN001
    from tests.federation.conftest import CLIENT_SECRET

    _prescriber(db)
    authorization = start(client)
    assert CLIENT_SECRET not in authorization
    callback = authenticate(authorization)
    assert CLIENT_SECRET not in callback
    assert client.get(callback).status_code == 303
    assert CLIENT_SECRET not in app.config.values()
