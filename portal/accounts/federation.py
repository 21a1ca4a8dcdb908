"""The OpenID Connect relying party of the identity federation (Pro Santé Connect, issue 22).

Protocol only; which account the identity opens is `federated_login`'s business.

* `begin` starts an authorization code flow with PKCE (S256): a random `state`, `nonce` and
  code verifier, returned as a `Pending` that the caller keeps in the signed session cookie.
* `finish` takes the callback's arguments and that `Pending` (which the caller has already
  removed from the session, so a `state` serves once), exchanges the code (client secret and
  code verifier) through authlib's OAuth 2 client, and checks the ID token with joserfc: its
  signature against the provider's JWKS (an unknown key id makes it fetch the keys once more:
  key rotation), then issuer, audience and `azp`, expiry, issue time, `nonce` and `acr`. It
  reads the userinfo endpoint (JSON, or a signed JWT checked the same way) whose `sub` must
  match, and returns the `Identity`.
* `end_session_url` is where logging out sends the browser: the provider's end_session_endpoint.

Every refusal raises `FederationRefused` with a short reason code for the audit trail and the
page. The discovery document and the keys are kept per app for `FEDERATION_METADATA_SECONDS`.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal import clock
from portal.accounts.federation_settings import FederationSettings, settings_of

#: where the provider sends the browser back, under PORTAL_BASE_URL
CALLBACK_PATH = "/login/federation/callback"
LOGGED_OUT_PATH = "/login/federation/logged-out"
_CACHE = "portal.accounts.federation"
#: an unknown key id makes the portal fetch the keys again at most this often (a stream of
#: bad tokens cannot make it hammer the provider)
KEY_REFRESH_SECONDS = 10


class FederationRefused(Exception):
    """A federated login is refused; `reason` is a short code (see the README)."""

    def __init__(self, reason: str, identity: Identity | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.identity = identity


@dataclass(frozen=True)
class Pending:
    """What a started login must find again at the callback."""

    state: str
    nonce: str
    verifier: str
    started_at: str
    next_url: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier,
                "started_at": self.started_at, "next_url": self.next_url}

    @classmethod
    def from_dict(cls, value: Any) -> Pending | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(**{k: str(value[k]) for k in
                          ("state", "nonce", "verifier", "started_at", "next_url")})
        except KeyError:
            return None


@dataclass(frozen=True)
class Identity:
    """Who the provider says logged in, from the checked ID token and userinfo."""

    subject: str
    acr: str
    id_token: str
    #: the RPPS claim as sent (not yet checked)
    rpps_claim: str | None
    profession: str | None
    given_name: str | None
    family_name: str | None
    claims: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p)


@dataclass
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    metadata: Metadata | None = None
    metadata_at: float = 0.0
    keys: KeySet | None = None
    keys_at: float = 0.0
    #: the last fetch caused by an unknown key id
    refreshed_at: float = float("-inf")


def _cache(app: Flask) -> _Cache:
    return app.extensions.setdefault(_CACHE, _Cache())


def _get_json(url: str, settings: FederationSettings) -> Any:
    try:
        response = requests.get(url, timeout=settings.timeout_seconds,
                                headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError):
        raise FederationRefused("provider_unreachable") from None


def metadata(app: Flask) -> Metadata:
    """Return the provider's discovery document (fetched at most every METADATA_SECONDS)."""
    settings = settings_of(app)
    cache = _cache(app)
    with cache.lock:
        if cache.metadata is not None and (
                time.monotonic() - cache.metadata_at < settings.metadata_seconds):
            return cache.metadata
    document = _get_json(settings.discovery_url, settings)
    try:
        found = Metadata(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            userinfo_endpoint=document.get("userinfo_endpoint"),
            jwks_uri=str(document["jwks_uri"]),
            end_session_endpoint=document.get("end_session_endpoint"),
        )
    except (KeyError, TypeError, AttributeError):
        raise FederationRefused("provider_unreachable") from None
    with cache.lock:
        cache.metadata, cache.metadata_at = found, time.monotonic()
    return found


def _keys(app: Flask, *, refresh: bool = False) -> KeySet:
    settings = settings_of(app)
    cache = _cache(app)
    now = time.monotonic()
    with cache.lock:
        fresh = cache.keys is not None and now - cache.keys_at < settings.metadata_seconds
        if cache.keys is not None and (fresh and not refresh or (
                refresh and now - cache.refreshed_at < KEY_REFRESH_SECONDS)):
            return cache.keys
        if refresh:
            cache.refreshed_at = now
    document = _get_json(metadata(app).jwks_uri, settings)
    try:
        keys = KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError):
        raise FederationRefused("provider_unreachable") from None
    with cache.lock:
        cache.keys, cache.keys_at = keys, time.monotonic()
    return keys


def forget_cache(app: Flask) -> None:
    """Drop the cached discovery document and keys (tests, or after a provider change)."""
    app.extensions.pop(_CACHE, None)


def redirect_uri(app: Flask) -> str:
    return str(app.config["BASE_URL"]).rstrip("/") + CALLBACK_PATH


def logged_out_uri(app: Flask) -> str:
    return str(app.config["BASE_URL"]).rstrip("/") + LOGGED_OUT_PATH


def _client(app: Flask) -> OAuth2Session:
    settings = settings_of(app)
    return OAuth2Session(
        client_id=settings.client_id, client_secret=settings.client_secret,
        token_endpoint_auth_method=settings.token_auth_method,
        scope=" ".join(settings.scopes), redirect_uri=redirect_uri(app),
        code_challenge_method="S256", default_timeout=settings.timeout_seconds)


def begin(app: Flask, *, next_url: str = "", locale: str | None = None) -> tuple[str, Pending]:
    """Return the provider's authorization URL and what the callback must find again."""
    settings = settings_of(app)
    pending = Pending(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                      verifier=secrets.token_urlsafe(64),
                      started_at=clock.now().isoformat(), next_url=next_url)
    extra: dict[str, str] = {"nonce": pending.nonce, "acr_values": settings.required_acr}
    if locale:
        extra["ui_locales"] = locale
    url, _state = _client(app).create_authorization_url(
        metadata(app).authorization_endpoint, state=pending.state,
        code_verifier=pending.verifier, **extra)
    return url, pending


def _header(token: str) -> dict[str, Any]:
    try:
        encoded = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, IndexError, UnicodeDecodeError):
        raise FederationRefused("token") from None
    if not isinstance(header, dict):
        raise FederationRefused("token")
    return header


def _verified_claims(app: Flask, token: str) -> dict[str, Any]:
    """Check a signed JWT of the provider with its keys and return its claims."""
    settings = settings_of(app)
    if not isinstance(token, str) or token.count(".") != 2:
        raise FederationRefused("token")
    header = _header(token)
    algorithm = header.get("alg")
    if algorithm not in settings.algorithms:
        raise FederationRefused("signature")
    kid = header.get("kid")
    keys = _keys(app)
    if kid is not None and not _has_kid(keys, kid):
        keys = _keys(app, refresh=True)  # the provider may have rotated its keys
        if not _has_kid(keys, kid):
            raise FederationRefused("signature")
    try:
        decoded = jwt.decode(token, keys, algorithms=[algorithm])
    except JoseError:
        raise FederationRefused("signature") from None
    return dict(decoded.claims)


def _has_kid(keys: KeySet, kid: str) -> bool:
    try:
        keys.get_by_kid(kid)
    except (ValueError, KeyError, JoseError):
        return False
    return True


def _check_id_token(app: Flask, claims: dict[str, Any], nonce: str) -> None:
    settings = settings_of(app)
    now = clock.now().timestamp()
    leeway = settings.leeway_seconds
    if claims.get("iss") != metadata(app).issuer:
        raise FederationRefused("issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or settings.client_id not in audiences:
        raise FederationRefused("audience")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != settings.client_id:
        raise FederationRefused("audience")
    expiry, issued = claims.get("exp"), claims.get("iat")
    if not isinstance(expiry, int | float) or isinstance(expiry, bool):
        raise FederationRefused("expired")
    if expiry <= now - leeway:
        raise FederationRefused("expired")
    if not isinstance(issued, int | float) or isinstance(issued, bool) or issued > now + leeway:
        raise FederationRefused("token")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not secrets.compare_digest(token_nonce, nonce):
        raise FederationRefused("nonce")
    if claims.get("acr") not in settings.accepted_acr:
        raise FederationRefused("acr")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise FederationRefused("token")


def _userinfo(app: Flask, access_token: str, subject: str) -> dict[str, Any]:
    settings = settings_of(app)
    endpoint = metadata(app).userinfo_endpoint
    if not endpoint:
        return {}
    try:
        response = requests.get(endpoint, timeout=settings.timeout_seconds,
                                headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
    except requests.RequestException:
        raise FederationRefused("userinfo") from None
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    if kind == "application/jwt":
        info = _verified_claims(app, response.text.strip())
        if info.get("iss") not in (None, metadata(app).issuer):
            raise FederationRefused("userinfo")
    else:
        try:
            info = response.json()
        except ValueError:
            raise FederationRefused("userinfo") from None
    if not isinstance(info, dict) or info.get("sub") != subject:
        raise FederationRefused("userinfo")
    return info


def _text(value: Any) -> str | None:
    """A claim as one short text: the first of a list, None when absent or not text."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def pending_is_live(app: Flask, pending: Pending) -> bool:
    try:
        started = datetime.fromisoformat(pending.started_at)
    except ValueError:
        return False
    age = (clock.now() - started).total_seconds()
    return 0 <= age <= settings_of(app).pending_seconds


def finish(app: Flask, pending: Pending | None, args: dict[str, str]) -> Identity:
    """Check the provider's answer to the login `pending` started; return who logged in.

    :raises FederationRefused: with the reason code of the first check that failed.
    """
    state = args.get("state", "")
    if pending is None or not state or not secrets.compare_digest(
            state.encode(), pending.state.encode()) or not pending_is_live(app, pending):
        raise FederationRefused("state")
    if args.get("error") or not args.get("code"):
        raise FederationRefused("provider_error")
    meta = metadata(app)
    try:
        token = _client(app).fetch_token(meta.token_endpoint, code=args["code"],
                                         code_verifier=pending.verifier,
                                         grant_type="authorization_code")
    except Exception:  # noqa: BLE001 - any failure of the exchange (network, OAuth error)
        raise FederationRefused("token") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise FederationRefused("token")
    claims = _verified_claims(app, id_token)
    _check_id_token(app, claims, pending.nonce)
    access_token = token.get("access_token")
    info = _userinfo(app, str(access_token), claims["sub"]) if access_token else {}
    settings = settings_of(app)
    merged = {**claims, **info}
    return Identity(
        subject=claims["sub"], acr=str(claims["acr"]), id_token=id_token,
        rpps_claim=_text(merged.get(settings.rpps_claim)),
        profession=_text(merged.get(settings.profession_claim)),
        given_name=_text(merged.get(settings.given_name_claim)),
        family_name=_text(merged.get(settings.family_name_claim)),
        claims=merged,
    )


def end_session_url(app: Flask, id_token: str | None) -> str | None:
    """Where to send the browser to log out at the provider too (None: it has no endpoint)."""
    try:
        endpoint = metadata(app).end_session_endpoint
    except FederationRefused:
        return None
    if not endpoint:
        return None
    query = {"client_id": settings_of(app).client_id,
             "post_logout_redirect_uri": logged_out_uri(app)}
    if id_token:
        query["id_token_hint"] = id_token
    separator = "&" if "?" in endpoint else "?"
    return endpoint + separator + urlencode(query)
