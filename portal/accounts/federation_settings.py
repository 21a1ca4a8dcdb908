"""Settings of the login through the national identity federation (OpenID Connect, issue 22).

Federation is off while `FEDERATION_DISCOVERY_URL` is empty. A test provider and Pro Santé
Connect differ only by these settings (the README lists the real values). The client secret
never lives in the database: it comes from `PORTAL_FEDERATION_CLIENT_SECRET` or, better, from
a file the secret store mounts (`PORTAL_FEDERATION_CLIENT_SECRET_FILE`), readable by the portal's
user only.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from portal.permissions import Role

DEFAULTS: dict[str, Any] = {
    #: the provider's discovery document (.well-known/openid-configuration); empty: no federation
    "FEDERATION_DISCOVERY_URL": "",
    #: the name shown on the login button and pages
    "FEDERATION_NAME": "Pro Santé Connect",
    #: the client id the provider registered for this portal
    "FEDERATION_CLIENT_ID": "",
    #: the client secret, from the environment (prefer the _FILE setting in production)
    "FEDERATION_CLIENT_SECRET": "",
    #: a file holding the client secret (mounted by the secret store; mode 0400 or 0600)
    "FEDERATION_CLIENT_SECRET_FILE": "",
    #: how the portal authenticates at the token endpoint
    "FEDERATION_TOKEN_AUTH_METHOD": "client_secret_basic",
    #: scopes asked for, space-separated ("openid" is always sent)
    "FEDERATION_SCOPES": "openid scope_all",
    #: the authentication levels, weakest first; the required one and those after it pass
    "FEDERATION_ACR_LEVELS": "eidas1,eidas2,eidas3",
    #: the level asked for (acr_values) and required in the ID token's acr claim
    "FEDERATION_REQUIRED_ACR": "eidas1",
    #: claim carrying the national identifier (RPPS, or "8" followed by the RPPS)
    "FEDERATION_RPPS_CLAIM": "SubjectNameID",
    #: claim carrying the profession (kept in the audit entry as a short code)
    "FEDERATION_PROFESSION_CLAIM": "SubjectRole",
    #: claim carrying the professional's places of practice (empty: not checked); every value
    #: under a key naming a FINESS inside it counts, e.g. SubjectRefPro's activities
    "FEDERATION_ESTABLISHMENT_CLAIM": "",
    #: claims carrying the first and last names (shown on the refusal pages)
    "FEDERATION_GIVEN_NAME_CLAIM": "given_name",
    "FEDERATION_FAMILY_NAME_CLAIM": "family_name",
    #: signature algorithms accepted for ID tokens and signed userinfo (never none or HS*)
    "FEDERATION_ALGORITHMS": "RS256,PS256,ES256",
    #: tolerated clock difference with the provider, in seconds
    "FEDERATION_LEEWAY_SECONDS": 60,
    #: how long the discovery document and keys are kept before being fetched again
    "FEDERATION_METADATA_SECONDS": 3600,
    #: timeout of each call to the provider, in seconds
    "FEDERATION_HTTP_TIMEOUT_SECONDS": 10,
    #: how long a started federated login may take (state, nonce and verifier die after it)
    "FEDERATION_PENDING_SECONDS": 600,
    #: roles whose holders may no longer log in with a password (comma-separated Role values)
    "FEDERATION_LOCAL_LOGIN_REFUSED_ROLES": "",
    #: whom a professional without an account should ask (shown on the refusal page)
    "FEDERATION_ACCOUNT_CONTACT": "",
}

TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
FORBIDDEN_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})


@dataclass(frozen=True)
class FederationSettings:
    """The settings above, checked and parsed once at startup."""

    discovery_url: str
    name: str
    client_id: str
    client_secret: str
    token_auth_method: str
    scopes: tuple[str, ...]
    required_acr: str
    accepted_acr: frozenset[str]
    rpps_claim: str
    profession_claim: str
    establishment_claim: str
    given_name_claim: str
    family_name_claim: str
    algorithms: tuple[str, ...]
    leeway_seconds: int
    metadata_seconds: int
    timeout_seconds: int
    pending_seconds: int
    local_login_refused_roles: frozenset[Role]
    account_contact: str

    @property
    def enabled(self) -> bool:
        return bool(self.discovery_url)


_EXTENSION = "portal.accounts.federation_settings"


def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).replace(" ", ",").split(",")
                 if part.strip())


def _read_secret_file(path: str) -> str:
    from portal.config import ConfigError

    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise ConfigError(f"PORTAL_FEDERATION_CLIENT_SECRET_FILE: no file at {path}.") from None
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(f"PORTAL_FEDERATION_CLIENT_SECRET_FILE: {path} may be read by other "
                          "users: chmod 400 it.")
    with open(path, encoding="utf-8") as handle:
        secret = handle.read().strip()
    if not secret:
        raise ConfigError(f"PORTAL_FEDERATION_CLIENT_SECRET_FILE: {path} is empty.")
    return secret


def parse(config: dict[str, Any]) -> FederationSettings:
    """Check the federation settings; a `ConfigError` names the setting at fault."""
    from portal.config import ConfigError

    discovery = str(config["FEDERATION_DISCOVERY_URL"]).strip()
    production = config.get("ENV") == "production"
    refused: set[Role] = set()
    for name in _split(config["FEDERATION_LOCAL_LOGIN_REFUSED_ROLES"]):
        try:
            refused.add(Role(name))
        except ValueError:
            raise ConfigError(
                f"PORTAL_FEDERATION_LOCAL_LOGIN_REFUSED_ROLES: {name!r} is not a role (one of "
                f"{', '.join(r.value for r in Role)})."
            ) from None
    levels = _split(config["FEDERATION_ACR_LEVELS"])
    required = str(config["FEDERATION_REQUIRED_ACR"]).strip()
    algorithms = _split(config["FEDERATION_ALGORITHMS"])
    secret = str(config.get("FEDERATION_CLIENT_SECRET") or "")
    secret_file = str(config.get("FEDERATION_CLIENT_SECRET_FILE") or "").strip()
    method = str(config["FEDERATION_TOKEN_AUTH_METHOD"]).strip()
    if discovery:
        url = urlsplit(discovery)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ConfigError("PORTAL_FEDERATION_DISCOVERY_URL must be an https:// URL.")
        if production and url.scheme != "https":
            raise ConfigError("PORTAL_FEDERATION_DISCOVERY_URL must be https:// in production.")
        if not str(config["FEDERATION_CLIENT_ID"]).strip():
            raise ConfigError("PORTAL_FEDERATION_CLIENT_ID is missing: the provider gives it "
                              "when it registers the portal.")
        if secret_file:
            secret = _read_secret_file(secret_file)
        if not secret:
            raise ConfigError("PORTAL_FEDERATION_CLIENT_SECRET_FILE is missing: the client "
                              "secret comes from the secret store (or "
                              "PORTAL_FEDERATION_CLIENT_SECRET), never from the database.")
        if required not in levels:
            raise ConfigError(f"PORTAL_FEDERATION_REQUIRED_ACR: {required!r} is not one of "
                              "PORTAL_FEDERATION_ACR_LEVELS.")
        bad = [a for a in algorithms if a in FORBIDDEN_ALGORITHMS]
        if bad or not algorithms:
            raise ConfigError("PORTAL_FEDERATION_ALGORITHMS must list public-key signature "
                              f"algorithms only (not {', '.join(bad) or 'nothing'}).")
        if method not in TOKEN_AUTH_METHODS:
            raise ConfigError("PORTAL_FEDERATION_TOKEN_AUTH_METHOD must be one of "
                              f"{', '.join(TOKEN_AUTH_METHODS)}.")
    elif refused:
        raise ConfigError("PORTAL_FEDERATION_LOCAL_LOGIN_REFUSED_ROLES is set but federation is "
                          "off (PORTAL_FEDERATION_DISCOVERY_URL is empty): those people could "
                          "not log in at all.")
    for name in ("FEDERATION_LEEWAY_SECONDS", "FEDERATION_METADATA_SECONDS",
                 "FEDERATION_HTTP_TIMEOUT_SECONDS", "FEDERATION_PENDING_SECONDS"):
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"PORTAL_{name} must be a whole number of seconds, not {value!r}.")
    accepted = frozenset(levels[levels.index(required):]) if required in levels else frozenset()
    scopes = _split(config["FEDERATION_SCOPES"])
    if "openid" not in scopes:
        scopes = ("openid", *scopes)
    return FederationSettings(
        discovery_url=discovery,
        name=str(config["FEDERATION_NAME"]),
        client_id=str(config["FEDERATION_CLIENT_ID"]).strip(),
        client_secret=secret,
        token_auth_method=method,
        scopes=scopes,
        required_acr=required,
        accepted_acr=accepted,
        rpps_claim=str(config["FEDERATION_RPPS_CLAIM"]),
        profession_claim=str(config["FEDERATION_PROFESSION_CLAIM"]),
        establishment_claim=str(config["FEDERATION_ESTABLISHMENT_CLAIM"]).strip(),
        given_name_claim=str(config["FEDERATION_GIVEN_NAME_CLAIM"]),
        family_name_claim=str(config["FEDERATION_FAMILY_NAME_CLAIM"]),
        algorithms=algorithms,
        leeway_seconds=int(config["FEDERATION_LEEWAY_SECONDS"]),
        metadata_seconds=int(config["FEDERATION_METADATA_SECONDS"]),
        timeout_seconds=int(config["FEDERATION_HTTP_TIMEOUT_SECONDS"]),
        pending_seconds=int(config["FEDERATION_PENDING_SECONDS"]),
        local_login_refused_roles=frozenset(refused),
        account_contact=str(config["FEDERATION_ACCOUNT_CONTACT"]),
    )


def init_app(app: Flask) -> None:
    """Fill the missing settings, refuse unusable ones, keep the parsed result on the app."""
    from portal.config import apply_area_defaults

    apply_area_defaults(app.config, DEFAULTS)
    parsed = parse(app.config)
    # The secret stays out of app.config once read: nothing dumps it with the settings.
    app.config["FEDERATION_CLIENT_SECRET"] = ""
    app.extensions[_EXTENSION] = parsed


def settings_of(app: Flask) -> FederationSettings:
    """Return the app's parsed federation settings."""
    return app.extensions[_EXTENSION]
