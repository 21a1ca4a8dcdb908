"""A small, real OpenID Connect provider for the tests, served on 127.0.0.1 (issue 22).

Discovery, JWKS, authorize (a page with a button, as a person sees it), token (client secret,
PKCE S256 checked with authlib), userinfo and end_session, with RSA keys and signed JWTs from
joserfc. Its endpoints are written out here rather than taken from authlib's authorization
server so that a test can make it misbehave on purpose (`Provider.tamper`): sign with another
key, announce another audience, send an expired token, leave out the nonce, claim a lower acr.
Times come from `portal.clock`, so the provider and the portal agree on the test's date.

    with running_provider() as provider:
        provider.register_client("aac-portal", "secret", redirect_uri, logged_out_uri)
        provider.identity = identity_for(rpps="10003641205")
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask, Response, abort, jsonify, make_response, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from markupsafe import escape

from portal import clock
from tests.servers import threaded

ISSUER_PATH = ""
SESSION_COOKIE = "op_session"
CODE_SECONDS = 60
TOKEN_SECONDS = 300


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def identity_for(rpps: str, sub: str | None = None, *, given_name: str = "Camille",
                 family_name: str = "Martin", profession: str = "10^1") -> dict[str, Any]:
    """Claims of a professional as Pro Santé Connect sends them (national id = "8" + RPPS)."""
    return {"sub": sub or f"psc-{rpps}", "SubjectNameID": "8" + rpps, "given_name": given_name,
            "family_name": family_name, "SubjectRole": [profession],
            "preferred_username": "8" + rpps}


@dataclass
class Client:
    secret: str
    redirect_uris: set[str]
    logout_uris: set[str]


@dataclass
class Provider:
    """The provider's state; tests read and change it between requests."""

    base: str = ""
    keys: list[RSAKey] = field(default_factory=lambda: [new_key("key-1")])
    clients: dict[str, Client] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    acr: str = "eidas1"
    #: misbehaviour for the next tokens: foreign_key (same kid, another key), unknown_kid,
    #: aud, exp_offset (seconds from now), omit_nonce, acr, userinfo_jwt, userinfo_sub
    tamper: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    logouts: list[dict[str, str]] = field(default_factory=list)
    token_requests: int = 0
    jwks_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        return self.base + ISSUER_PATH

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def register_client(self, client_id: str, secret: str, redirect_uri: str,
                        logout_uri: str) -> None:
        self.clients[client_id] = Client(secret, {redirect_uri}, {logout_uri})

    def rotate_keys(self) -> RSAKey:
        """Start signing with a new key, still publishing the old one (as providers do)."""
        key = new_key(f"key-{len(self.keys) + 1}")
        self.keys.insert(0, key)
        return key

    @property
    def signing_key(self) -> RSAKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return KeySet(list(self.keys)).as_dict(private=False)

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.signing_key
        kid = key.kid
        if self.tamper.get("foreign_key"):
            key = new_key(kid or "key-1")  # the same kid, a key nobody published
        elif self.tamper.get("unknown_kid"):
            key = new_key("not-published")
            kid = "not-published"
        return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def _now() -> int:
    return int(clock.now().timestamp())


def create_provider_app(provider: Provider) -> Flask:
    app = Flask("tests.oidc_provider")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        base = provider.base
        return jsonify({
            "issuer": provider.issuer,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/jwks",
            "end_session_endpoint": base + "/end_session",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "acr_values_supported": ["eidas1"],
            "scopes_supported": ["openid", "scope_all"],
        })

    @app.get("/jwks")
    def jwks() -> Response:
        provider.jwks_requests += 1
        return jsonify(provider.jwks())

    def _check_authorization_request(args: Any) -> Client:
        client = provider.clients.get(args.get("client_id", ""))
        if client is None or args.get("redirect_uri") not in client.redirect_uris:
            abort(400, "unknown client or redirect_uri")
        if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
            abort(400, "response_type=code and scope openid are required")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            abort(400, "PKCE S256 is required")
        return client

    @app.get("/authorize")
    def authorize_page() -> Response:
        _check_authorization_request(request.args)
        identity = provider.identity
        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                         for k, v in request.args.items())
        name = f"{identity.get('given_name', '')} {identity.get('family_name', '')}"
        return make_response(
            "<!doctype html><html lang=en><title>Test provider</title><main>"
            f"<h1>Test identity provider</h1><p>Authenticate as {escape(name)} "
            f"({escape(identity.get('SubjectNameID', ''))})</p>"
            f'<form method="post" action="/authorize">{hidden}'
            '<button type="submit" name="decision" value="approve">Authenticate with e-CPS'
            '</button> <button type="submit" name="decision" value="cancel">Cancel</button>'
            "</form></main></html>")

    @app.post("/authorize")
    def authorize() -> Response:
        form = request.form
        _check_authorization_request(form)
        target = form["redirect_uri"]
        if form.get("decision") == "cancel":
            return redirect(target + "?" + urlencode({"error": "access_denied",
                                                      "state": form.get("state", "")}))
        code = secrets.token_urlsafe(24)
        sid = request.cookies.get(SESSION_COOKIE) or secrets.token_urlsafe(16)
        with provider.lock:
            provider.codes[code] = {
                "client_id": form["client_id"], "redirect_uri": target,
                "nonce": form.get("nonce"), "challenge": form["code_challenge"],
                "identity": dict(provider.identity), "at": _now(), "used": False, "sid": sid,
            }
            provider.sessions[sid] = {"sub": provider.identity.get("sub")}
        response = redirect(target + "?" + urlencode({"code": code,
                                                      "state": form.get("state", "")}))
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax")
        return response

    def _client_of_token_request() -> str:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            client_id, secret = auth.username or "", auth.password or ""
        else:
            client_id = request.form.get("client_id", "")
            secret = request.form.get("client_secret", "")
        client = provider.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            abort(make_response(jsonify(error="invalid_client"), 401))
        return client_id

    @app.post("/token")
    def token() -> Response:
        provider.token_requests += 1
        client_id = _client_of_token_request()
        form = request.form

        def refuse(error: str) -> Response:
            return make_response(jsonify(error=error), 400)

        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type")
        with provider.lock:
            grant = provider.codes.get(form.get("code", ""))
            if grant is None or grant["used"] or _now() - grant["at"] > CODE_SECONDS:
                return refuse("invalid_grant")
            grant["used"] = True
        if grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri"):
            return refuse("invalid_grant")
        verifier = form.get("code_verifier", "")
        if not verifier or create_s256_code_challenge(verifier) != grant["challenge"]:
            return refuse("invalid_grant")
        identity = grant["identity"]
        now = _now()
        tamper = provider.tamper
        claims: dict[str, Any] = {
            "iss": provider.issuer, "sub": identity["sub"],
            "aud": tamper.get("aud", client_id), "azp": tamper.get("aud", client_id),
            "iat": now, "exp": now + int(tamper.get("exp_offset", TOKEN_SECONDS)),
            "auth_time": now, "acr": tamper.get("acr", provider.acr), "sid": grant["sid"],
        }
        if grant["nonce"] and not tamper.get("omit_nonce"):
            claims["nonce"] = grant["nonce"]
        claims.update({k: v for k, v in identity.items() if k in ("given_name", "family_name")})
        access = secrets.token_urlsafe(24)
        provider.access_tokens[access] = {"identity": identity, "client_id": client_id,
                                          "exp": now + TOKEN_SECONDS}
        return jsonify({"access_token": access, "token_type": "Bearer",
                        "expires_in": TOKEN_SECONDS, "id_token": provider.sign(claims),
                        "scope": "openid scope_all"})

    @app.get("/userinfo")
    def userinfo() -> Response:
        header = request.headers.get("Authorization", "")
        grant = provider.access_tokens.get(header.removeprefix("Bearer ").strip())
        if not header.startswith("Bearer ") or grant is None or grant["exp"] < _now():
            return make_response(jsonify(error="invalid_token"), 401)
        info = dict(grant["identity"])
        if "userinfo_sub" in provider.tamper:
            info["sub"] = provider.tamper["userinfo_sub"]
        if provider.tamper.get("userinfo_jwt"):
            info.update({"iss": provider.issuer, "aud": grant["client_id"]})
            response = make_response(provider.sign(info))
            response.headers["Content-Type"] = "application/jwt"
            return response
        return jsonify(info)

    @app.get("/end_session")
    def end_session() -> Response:
        args = request.args
        client = provider.clients.get(args.get("client_id", ""))
        target = args.get("post_logout_redirect_uri", "")
        if client is None or (target and target not in client.logout_uris):
            abort(400, "unknown client or post_logout_redirect_uri")
        hint = args.get("id_token_hint", "")
        hinted_sid = None
        if hint:
            try:
                hinted_sid = jwt.decode(hint, KeySet(list(provider.keys))).claims.get("sid")
            except Exception:  # noqa: BLE001 - a bad hint is refused like any bad request
                abort(400, "bad id_token_hint")
        sid = request.cookies.get(SESSION_COOKIE)
        with provider.lock:
            for ended in {sid, hinted_sid} - {None}:
                provider.sessions.pop(ended, None)
            provider.logouts.append({"sid": sid or "", "hinted_sid": hinted_sid or ""})
        response = redirect(target) if target else make_response("Logged out.")
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/whoami")
    def whoami() -> Response:
        session = provider.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        text = f"Logged in as {session['sub']}" if session else "No session at the provider."
        return make_response(f"<!doctype html><html lang=en><title>Test provider</title>"
                             f"<main><p id=who>{escape(text)}</p></main></html>")

    return app


@contextmanager
def running_provider() -> Iterator[Provider]:
    """Serve a fresh provider on a free loopback port for the duration of the block."""
    provider = Provider()
    with threaded(create_provider_app(provider)) as base:
        provider.base = base
        yield provider
