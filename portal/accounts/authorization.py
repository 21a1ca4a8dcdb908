"""The authorizer behind `@requires(...)`, the permission source, and first-page gates.

For a view declaring `@requires(P, ...)` the checks run in this order:

1. nobody logged in: redirect to the login page, with the requested path as a safe `next`;
2. password checked but second factor missing: redirect to the code step (or to enrolment);
3. password must change (forced, or an administrator's older than 365 days; never in a session
   opened through the identity federation): redirect to the
   change form (`accounts.change_password`), which is itself exempt from this step;
4. the registered gates, in registration order (see `register_gate`);
5. `P, ... ⊆ portal.access.policy.permissions_for(session, user)`, else the refusal is audited
   (`accounts:permission:denied`, committed even though the request fails) and the person
   gets the 403 page.

`@public` views never go through these steps: the login, code, enrolment, activation and
logout pages check their own state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, redirect, request, url_for
from flask.globals import request_ctx
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.access.policy import denial_reason, permissions_for
from portal.accounts import sessions
from portal.accounts.actions import AccountAction
from portal.accounts.authentication import password_change_required
from portal.accounts.models import User
from portal.audit.services import record
from portal.db import get_session
from portal.errors import Forbidden
from portal.permissions import Permission, set_authorizer, set_permission_source
from portal.security import safe_next_url

#: the password change form: the forced-change step and the gates never redirect away from it
CHANGE_PASSWORD_ENDPOINT = "accounts.change_password"  # noqa: S105 - an endpoint
_GATES = "portal.accounts.gates"
_PERMISSIONS = "_portal_permissions"

Gate = Callable[[User], "str | None"]


class AuthRedirect(Exception):
    """Raised from the authorizer: answer with a redirect to `location` instead of the view."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class _RegisteredGate:
    gate: Gate
    exempt_endpoints: frozenset[str]


def register_gate(app: Flask, gate: Gate, *, exempt_endpoints: tuple[str, ...] = ()) -> None:
    """Add a gate: `gate(user)` returns a URL to send the person to first, or None.

    Gates run for every `@requires` view of a fully logged-in person, after the forced password
    change and before the permission check. A gate is never applied to a request whose path is
    the path of the URL it returns (its own target), nor to the endpoints in
    `exempt_endpoints` (e.g. the target's POST endpoint), nor to the password change form;
    logout is `@public` and never gated.
    """
    app.extensions.setdefault(_GATES, []).append(
        _RegisteredGate(gate, frozenset(exempt_endpoints)))


def current_permissions() -> frozenset[Permission]:
    """Return (once per request) what the fully logged-in person may do; empty otherwise."""
    # On the request, not on `g`: `g` outlives a request when an app context is held open.
    memo = request_ctx.__dict__
    if _PERMISSIONS in memo:
        return memo[_PERMISSIONS]
    state = sessions.load_state()
    held = permissions_for(get_session(), state.user) if state.full else frozenset()
    memo[_PERMISSIONS] = held
    return held


def second_factor_url(user: User) -> str:
    """Return the step that follows a correct password: the code, or enrolment."""
    if user.totp_confirmed_at is None:
        return url_for("accounts.enrol")
    return url_for("accounts.second_factor")


def login_url() -> str:
    """Return the login page, carrying the requested path back when it is a page (GET)."""
    if request.method == "GET":
        target = safe_next_url(request.path, "")
        if target and target != "/":
            return url_for("accounts.login", next=target)
    return url_for("accounts.login")


def authorize(permissions: frozenset[Permission]) -> None:
    """Let the request through, or raise `AuthRedirect` / `Forbidden` (see the module doc)."""
    state = sessions.load_state()
    if not state.full:
        if state.pending and state.user is not None:
            raise AuthRedirect(second_factor_url(state.user))
        if state.expired:
            flash(_("Your session has expired. Please log in again."), "info")
        raise AuthRedirect(login_url())
    user = state.user
    assert user is not None
    held = current_permissions()
    if request.endpoint != CHANGE_PASSWORD_ENDPOINT:
        # A federated session had no password to change: the provider authenticated the person.
        if not sessions.is_federated() and password_change_required(user, held):
            raise AuthRedirect(url_for(CHANGE_PASSWORD_ENDPOINT))
        for registered in current_app.extensions.get(_GATES, []):
            if request.endpoint in registered.exempt_endpoints:
                continue
            target = registered.gate(user)
            if target and urlsplit(target).path != request.path:
                raise AuthRedirect(target)
    missing = permissions - held
    if missing:
        db = get_session()
        record(db, user, AccountAction.PERMISSION_DENIED, outcome="denied",
               endpoint=str(request.endpoint), missing=sorted(missing)[0],
               reason=denial_reason(db, user))
        db.commit()
        raise Forbidden()


def _redirect(exc: AuthRedirect) -> Response:
    # 303: a refused POST is followed by a GET of the login or code page.
    return redirect(exc.location, 303 if request.method != "GET" else 302)


def init_app(app: Flask) -> None:
    """Install the authorizer, the permission source and the redirect handler."""
    set_authorizer(app, authorize)
    set_permission_source(app, current_permissions)
    app.register_error_handler(AuthRedirect, _redirect)
