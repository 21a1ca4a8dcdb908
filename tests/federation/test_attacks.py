"""Attacks on the federated login: each one is refused with a clear page and an audit entry."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.permissions import Role
from tests.federation.conftest import BAD_RPPS, RPPS, authenticate, federated_login, start
from tests.helpers_auth import make_user
from tests.oidc_provider import identity_for


@pytest.fixture
def prescriber(db):  # noqa: ANN001, ANN201
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, password=None)
    user.rpps = RPPS
    db.commit()
    return user


def _refusals(db) -> list[str]:  # noqa: ANN001
    db.expire_all()
    return [e.details["reason"] for e in db.scalars(
        select(AuditEvent).where(AuditEvent.action == "accounts:login:federated_refused")
        .order_by(AuditEvent.seq))]


def _refused(db, client, response: Any, reason: str, text: bytes, status: int = 403) -> None:  # noqa: ANN001
    assert response.status_code == status
    assert b"refused" in response.data and text in response.data
    assert _refusals(db)[-1] == reason
    assert client.get("/account").status_code == 302  # no session was opened
    db.expire_all()


@pytest.mark.parametrize(("tamper", "reason"), [
    ({"foreign_key": True}, "signature"),
    ({"unknown_kid": True}, "signature"),
    ({"aud": "another-client"}, "audience"),
    ({"exp_offset": -120}, "expired"),
    ({"omit_nonce": True}, "nonce"),
])
def test_a_bad_id_token_is_refused(app, db, client, provider, prescriber, tamper, reason):  # noqa: ANN001
    provider.tamper.update(tamper)
    response = federated_login(client)
    _refused(db, client, response, reason, b"could not be verified")
    assert reason.encode() in response.data  # the code to give the administrator


def test_an_acr_below_the_setting_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    provider.tamper["acr"] = "eidas0"
    _refused(db, client, federated_login(client), "acr", b"authentication level is not sufficient")


def test_a_replayed_state_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    callback = authenticate(start(client))
    assert client.get(callback).status_code == 303
    client.post("/logout")
    token_requests = provider.token_requests
    _refused(db, client, client.get(callback), "state", b"already used", status=400)
    assert provider.token_requests == token_requests  # refused before the code is even sent


def test_a_state_from_another_browser_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    callback = authenticate(start(client))
    other = app.test_client()
    start(other)  # the other browser started a login of its own
    _refused(db, other, other.get(callback), "state", b"already used", status=400)


def test_a_forged_state_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    callback = authenticate(start(client))
    forged = callback.replace("state=", "state=x")
    _refused(db, client, client.get(forged), "state", b"already used", status=400)


def test_an_unknown_rpps_gets_a_page_saying_whom_to_ask(app, db, client, provider, prescriber):  # noqa: ANN001
    provider.identity = identity_for("10101010105",
                                     given_name="Alix", family_name="Durand")
    response = federated_login(client)
    _refused(db, client, response, "no_account", b"No account of this portal carries your RPPS")
    assert b"Ask the administrators of this portal at Laboratoire Exemple SAS" in response.data
    assert b"Alix Durand" in response.data and b"810101010105" in response.data


def test_an_rpps_with_a_bad_check_digit_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    provider.identity = identity_for(BAD_RPPS)
    _refused(db, client, federated_login(client), "rpps_invalid", b"check digit")


def test_a_missing_rpps_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    identity = identity_for(RPPS)
    del identity["SubjectNameID"]
    provider.identity = identity
    _refused(db, client, federated_login(client), "rpps_missing", b"sent no RPPS number")


def test_a_disabled_account_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    from portal import clock

    prescriber.disabled_at = clock.now()
    db.commit()
    _refused(db, client, federated_login(client), "disabled", b"is disabled")


def test_userinfo_about_someone_else_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    provider.tamper["userinfo_sub"] = "psc-someone-else"
    _refused(db, client, federated_login(client), "userinfo", b"could not be verified")


def test_a_cancelled_authentication_is_refused(app, db, client, provider, prescriber):  # noqa: ANN001
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get(f"/login/federation/callback?error=access_denied&state={state}")
    _refused(db, client, response, "provider_error", b"did not authenticate you")


def test_keys_rotated_at_the_provider_are_fetched_again(app, db, client, provider, prescriber):  # noqa: ANN001
    assert federated_login(client).status_code == 303
    client.post("/logout")
    fetched = provider.jwks_requests
    provider.rotate_keys()
    assert federated_login(client).status_code == 303
    assert provider.jwks_requests == fetched + 1
    assert client.get("/account").status_code == 200


def test_an_unreachable_provider_gets_a_clear_page(app, db, client, provider, prescriber):  # noqa: ANN001
    from dataclasses import replace

    from portal.accounts import federation
    from portal.accounts.federation_settings import settings_of

    federation.forget_cache(app)
    app.extensions["portal.accounts.federation_settings"] = replace(
        settings_of(app), discovery_url="http://127.0.0.1:9/.well-known/openid-configuration")
    response = client.post("/login/federation")
    _refused(db, client, response, "provider_unreachable", b"cannot be reached")


def test_the_refusal_page_is_in_french_too(app, db, client, provider, prescriber):  # noqa: ANN001
    client.get("/language/fr")
    provider.identity = identity_for(BAD_RPPS)
    response = federated_login(client)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Connexion par Pro Santé Connect refusée" in page
    assert "clé de contrôle ne correspond pas" in page
    assert "Se connecter avec Pro Santé Connect" in client.get("/login").get_data(as_text=True)


def _practising(provider, places: object) -> None:  # noqa: ANN001
    provider.identity = {**identity_for(RPPS), "SubjectRefPro": {"exercices": [
        {"codeProfession": "10", "activities": places}]}}


@pytest.fixture
def at_site(app, db, prescriber):  # noqa: ANN001, ANN201
    from dataclasses import replace

    from portal.access.models import AccessGrant
    from portal.accounts.federation_settings import settings_of

    app.extensions["portal.accounts.federation_settings"] = replace(
        settings_of(app), establishment_claim="SubjectRefPro")
    grant = db.scalar(select(AccessGrant).where(AccessGrant.user_id == prescriber.id))
    assert [site.finess for site in grant.establishments] == ["750712184"]
    return grant.establishments[0]


def test_a_prescriber_practising_at_the_grant_s_establishment_logs_in(
        app, db, client, provider, at_site):  # noqa: ANN001
    _practising(provider, [{"numeroFinessSite": "330781196"},
                           {"numeroFinessSite": "75 071 218 4", "siretSite": "12345678901234"}])
    assert federated_login(client).status_code == 303


def test_a_prescriber_practising_elsewhere_is_refused(app, db, client, provider, at_site):  # noqa: ANN001
    _practising(provider, [{"numeroFinessSite": "330781196", "siretSite": "750712184"}])
    _refused(db, client, federated_login(client), "establishment",
             b"does not list you as practising")
