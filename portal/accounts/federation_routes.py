"""Pages of the login through the identity federation: start, callback, return from logout."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal import clock
from portal.accounts import federated_login, federation, sessions
from portal.accounts.federation_settings import settings_of
from portal.accounts.routes import NEXT_KEY, bp
from portal.db import get_session
from portal.permissions import public
from portal.security import safe_next_url

#: reasons shown with the page for a professional who has no account (whom to ask)
ACCOUNT_REASONS = frozenset({"no_account", "ambiguous_rpps", "disabled", "subject_mismatch"})


@bp.context_processor
def _federation() -> dict[str, Any]:
    return {"federation": settings_of(current_app)}


def _enabled() -> None:
    if not settings_of(current_app).enabled:
        abort(404)


def _home() -> str:
    return url_for("home.home")


def account_contact() -> str:
    """Whom a professional without an account should ask."""
    settings = settings_of(current_app)
    if settings.account_contact:
        return settings.account_contact
    return _("the administrators of this portal at %(controller)s",
             controller=current_app.config["CONTROLLER_NAME"])


@bp.post("/login/federation")
@public
def federation_start() -> Response:
    """Send the browser to the provider, with state, nonce and PKCE challenge."""
    _enabled()
    if sessions.load_state().full:
        return redirect(_home(), 303)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    next_url = safe_next_url(request.form.get("next") or flask_session.get(NEXT_KEY), "")
    try:
        url, pending = federation.begin(app, next_url=next_url, locale=str(get_locale() or ""))
    except federation.FederationRefused as refused:
        return _refused(refused)
    flask_session[sessions.FEDERATION_PENDING_KEY] = pending.as_dict()
    return redirect(url, 303)


def _refused(refused: federation.FederationRefused, user: Any = None) -> Response:
    """Audit the refusal and answer with a page saying why and what to do."""
    db = get_session()
    federated_login.refuse(db, refused.reason, user)
    db.commit()
    identity = refused.identity
    status = 400 if refused.reason == "state" else 403
    body = render_template(
        "accounts/federation_refused.html", reason=refused.reason,
        account_problem=refused.reason in ACCOUNT_REASONS, contact=account_contact(),
        name=identity.display_name if identity is not None else "",
        rpps=identity.rpps_claim if identity is not None and refused.reason in ACCOUNT_REASONS
        else "")
    return current_app.make_response((body, status))


@bp.get("/login/federation/callback")
@public
def federation_callback() -> Response:
    """Check the provider's answer, find the account, open the session (or ask to link)."""
    _enabled()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # Taken out of the session at once: a state serves once, whatever happens next.
    pending = federation.Pending.from_dict(flask_session.pop(sessions.FEDERATION_PENDING_KEY,
                                                             None))
    args = {key: request.args.get(key, "") for key in ("state", "code", "error")}
    try:
        identity = federation.finish(app, pending, args)
        db = get_session()
        outcome = federated_login.account_for(db, identity)
    except federation.FederationRefused as refused:
        get_session().rollback()
        return _refused(refused)
    user = outcome.user
    if outcome.link is not None:
        flask_session[sessions.FEDERATION_LINK_KEY] = outcome.link.as_dict()
        db.commit()
        flash(_("%(provider)s identified you. This is your first login through it: log in "
                "once more with your password and code, and your account will be linked.",
                provider=settings_of(app).name), "info")
        return redirect(url_for("accounts.login"), 303)
    state = sessions.load_state()
    if state.record is not None:
        state.record.revoked_at = clock.now()
    federated_login.complete(db, user, identity)
    sessions.start(db, user, second_factor=True)
    flask_session.pop(sessions.FEDERATION_LINK_KEY, None)
    flask_session[sessions.FEDERATION_ID_TOKEN_KEY] = identity.id_token
    db.commit()
    return redirect(safe_next_url(pending.next_url if pending else "", _home()), 303)


@bp.get("/login/federation/logged-out")
@public
def federation_logged_out() -> Response:
    """Where the provider sends the browser back once it logged the person out too."""
    _enabled()
    flash(_("You are logged out of the portal and of %(provider)s.",
            provider=settings_of(current_app).name), "info")
    return redirect(url_for("accounts.login"))
