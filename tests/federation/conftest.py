"""Federation tests: a real OpenID Connect provider on 127.0.0.1 and a portal pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.oidc_provider import Provider, identity_for, running_provider

CLIENT_ID = "aac-portal"
CLIENT_SECRET = "test-client-secret-not-in-the-database"  # noqa: S105 - a test value
#: a valid RPPS (Luhn check digit) and the same with a wrong check digit
RPPS = "10003641205"
BAD_RPPS = "10003641206"
BASE_URL = "http://127.0.0.1:5000"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        running.register_client(CLIENT_ID, CLIENT_SECRET, BASE_URL + "/login/federation/callback",
                                BASE_URL + "/login/federation/logged-out")
        running.identity = identity_for(RPPS)
        yield running


def federation_config(provider: Provider, **overrides: Any) -> dict[str, Any]:
    return {"FEDERATION_DISCOVERY_URL": provider.discovery_url,
            "FEDERATION_CLIENT_ID": CLIENT_ID, "FEDERATION_CLIENT_SECRET": CLIENT_SECRET,
            "BASE_URL": BASE_URL, **overrides}


@pytest.fixture
def app_config(app_config: dict[str, object], provider: Provider) -> dict[str, object]:
    app_config.update(federation_config(
        provider, FEDERATION_LOCAL_LOGIN_REFUSED_ROLES="prescriber,hospital_pharmacist"))
    return app_config


def start(client: Any) -> str:
    """Press "Log in with Pro Santé Connect"; return the provider's authorization URL."""
    response = client.post("/login/federation")
    assert response.status_code == 303, response.data
    return response.headers["Location"]


def authenticate(authorization_url: str) -> str:
    """Approve at the provider (as the button does); return the portal's callback path."""
    parts = urlsplit(authorization_url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    from urllib.parse import unquote_plus

    form = {key: unquote_plus(value) for key, value in query.items()}
    form["decision"] = "approve"
    answer = requests.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=form,
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    return f"{callback.path}?{callback.query}"


def federated_login(client: Any) -> Any:
    """The whole flow; return the portal's answer to the callback."""
    return client.get(authenticate(start(client)))
