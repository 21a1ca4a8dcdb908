"""The first-login gate: before any other page, a user reads the transparency notice and charter.

The accounts area runs registered gates for every `@requires` view of a fully logged-in person
(public pages, logout and the password change form are never gated). This gate sends a person
who holds a valid grant to the acknowledgement page until they have confirmed reading the
transparency notice in force, and again at their next login after a material version.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.db import get_session
from portal.notices import acknowledgements as acks
from portal.permissions import declared_access

log = logging.getLogger(__name__)

#: the acknowledgement page itself (its GET and POST) and the page saying that data pages are
#: closed are never gated
EXEMPT_ENDPOINTS = ("notices.acknowledge", "notices.closed")
#: the setting that lets people through while no notice for portal users is published
OPEN_SETTING = "DATA_PAGES_WITHOUT_USER_NOTICE"


def _login_at() -> datetime | None:
    """When the current session passed its second factor, if known."""
    record = g.get("user_session")
    if record is None:
        return None
    return getattr(record, "mfa_at", None) or getattr(record, "created_at", None)


def gate(user: Any) -> str | None:
    """Return where to send `user` before the requested page, or None to let them through."""
    if request.endpoint in EXEMPT_ENDPOINTS:
        return None
    # The notices pages stay open: the staff who hold a grant must still reach the editor.
    if not (request.endpoint or "").startswith("notices.") and acks.closed_for_want_of_notice(
            get_session(), user, open_anyway=bool(current_app.config.get(OPEN_SETTING))):
        return url_for("notices.closed")
    if acks.pending_version(get_session(), user, login_at=_login_at()) is None:
        return None
    # Come back to the page asked for; a refused POST comes back to the home page instead.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return url_for("notices.acknowledge", next=target)


#: public pages a person who still has to acknowledge may open: signing in and out, the
#: language switch, the public notices themselves, the health check and static files (the
#: app's and every blueprint's)
PUBLIC_EXEMPT_PREFIXES = ("accounts.", "notices.")
PUBLIC_EXEMPT = frozenset({"static", "home.set_language", "home.healthz"})


def _gate_public_pages() -> Response | None:
    """Apply the gate to the public pages a logged-in person opens (the home page after login).

    The accounts area gates every `@requires` view; public views are not gated there, yet the
    first page after login must already be the notice.
    """
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_EXEMPT or endpoint.endswith(".static") \
            or endpoint.startswith(PUBLIC_EXEMPT_PREFIXES):
        return None
    view = current_app.view_functions.get(endpoint)
    if view is None or declared_access(view) != frozenset():
        return None  # not public: the accounts authorizer runs the gate
    if not getattr(current_user, "is_authenticated", False):
        return None
    target = gate(current_user._get_current_object())
    return redirect(target) if target else None


def configure(app: Flask) -> None:
    """Settle OPEN_SETTING: on in development and tests unless set, never on in production."""
    import os

    from portal.config import ConfigError, apply_area_defaults

    apply_area_defaults(app.config, {OPEN_SETTING: app.config["ENV"] != "production"},
                        os.environ)
    if app.config["ENV"] == "production" and app.config[OPEN_SETTING]:
        raise ConfigError(
            f"PORTAL_{OPEN_SETTING} is on: production closes data pages until a notice for "
            "portal users is published."
        )


def install(app: Flask) -> None:
    """Register the gate with the accounts area's authorizer, and for public pages."""
    configure(app)
    app.before_request(_gate_public_pages)
    try:
        from portal.accounts.authorization import register_gate
    except ImportError:
        log.warning("portal.accounts.authorization.register_gate is missing: the first-login "
                    "notice is not enforced")
        return
    register_gate(app, gate, exempt_endpoints=EXEMPT_ENDPOINTS)
