"""Logging in and out, the second factor, activation links and one's own account."""

from __future__ import annotations

from typing import Any

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as flask_session
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from markupsafe import Markup
from werkzeug.wrappers import Response

from portal import clock
from portal.accounts import authentication as authn
from portal.accounts import federated_login, federation, sessions
from portal.accounts.actions import AccountAction
from portal.accounts.authorization import current_permissions, second_factor_url
from portal.accounts.federation_settings import settings_of
from portal.accounts.forms import (
    ChangePasswordForm,
    CodeForm,
    LoginForm,
    NewPasswordForm,
    RecoveryForm,
    RegenerateForm,
    reason_texts,
    rule_texts,
)
from portal.accounts.models import User
from portal.accounts.notifications import notify, notify_in_background
from portal.accounts.services import AccountError, live_token, login_key, token_hash
from portal.audit.services import record
from portal.db import get_session
from portal.extensions import limiter
from portal.permissions import Permission, public, requires
from portal.security import safe_next_url

bp = Blueprint("accounts", __name__)

#: Flask session keys: where to go after logging in, and the activation link being used
NEXT_KEY = "next"
ACTIVATION_KEY = "activation"

#: per IP and per submitted login, failures only (SEC-AUT-5d); the lock itself is in the database
LOGIN_LIMIT = "10 per 5 minutes"
#: what a login refused for want of a verification slot is told to wait (Retry-After)
BUSY_RETRY_SECONDS = 5
#: second-factor attempts per account and per IP, failures only (SEC-AUT-5c)
SECOND_FACTOR_LIMITS = "5 per 5 minutes;20 per hour;50 per day"
SECOND_FACTOR_IP_LIMITS = "10 per 5 minutes;50 per hour"
#: wrong current passwords on the change form, per account
CHANGE_PASSWORD_LIMIT = "5 per 5 minutes"  # noqa: S105 - a rate limit


@bp.after_request
def _never_cache(response: Response) -> Response:
    # Login state, TOTP secrets and recovery codes must not stay in any cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _failed(_response: Response) -> bool:
    """Flask-Limiter `deduct_when`: count the request only when authentication failed."""
    return bool(g.get("auth_failed"))


def _submitted_login() -> str:
    return "login:" + login_key(request.form.get("login", ""))


def _account_key() -> str:
    user = sessions.load_state().user
    return f"user:{user.id}" if user is not None else "-"


def _everyone() -> str:
    return "all"


def _global_limit() -> str:
    # Overall, failures only (PORTAL_LOGIN_GLOBAL_LIMIT, 1000 per 5 minutes by default).
    return str(current_app.config["LOGIN_GLOBAL_LIMIT"])


def _known_account() -> bool:
    """Flask-Limiter `exempt_when` of the overall limit: unknown logins must not fill it for
    the accounts that have logged in before (their own per-login limit and lockout still apply).
    """
    return authn.has_login_history(get_session(), request.form.get("login", ""))


def _second_factor_breached(_limit: Any) -> None:
    """Too many second-factor attempts: drop the pending login and tell the person."""
    state = sessions.load_state()
    if not state.pending or state.user is None:
        return
    db = get_session()
    user = state.user
    sessions.end_current(db)
    record(db, user, AccountAction.TOTP_LIMITED, user, outcome="denied")
    alert = authn.claim_second_factor_alert(db, user)
    db.commit()
    if alert:
        notify(current_app._get_current_object(), user, "second_factor_alert",  # type: ignore[attr-defined]
               reason="limit")


def _home() -> str:
    return url_for("home.home")


def _current_user() -> User:
    user = sessions.load_state().user
    assert user is not None  # the authorizer let a full session through
    return user


# --- password step ---------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(LOGIN_LIMIT, key_func=get_remote_address, methods=["POST"], deduct_when=_failed)
@limiter.limit(LOGIN_LIMIT, key_func=_submitted_login, methods=["POST"], deduct_when=_failed)
@limiter.limit(_global_limit, key_func=_everyone, methods=["POST"], deduct_when=_failed,
               exempt_when=_known_account)
def login() -> Any:
    """Check the login and password; the second factor follows."""
    state = sessions.load_state()
    if state.full:
        return redirect(_home())
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next"), "")
        if state.expired:
            flash(_("Your session has expired. Please log in again."), "info")
    failed = False
    if form.validate_on_submit():
        db = get_session()
        result = authn.check_login(db, form.login.data or "", form.password.data or "")
        if result.busy:
            db.commit()
            return _busy(form)
        if result.ok:
            user = result.user
            assert user is not None
            if federated_login.local_login_refused(db, user) and not _links_now(user):
                # The password was right, so saying so reveals nothing (SEC-AUT-3i holds).
                record(db, user, AccountAction.LOGIN_FAILURE, user, outcome="denied",
                       reason="local_login_refused")
                db.commit()
                form.password.data = ""
                return render_template("accounts/login.html", form=form, failed=False,
                                       local_refused=True), 403
            target = safe_next_url(form.next.data, "")
            if state.record is not None:
                state.record.revoked_at = clock.now()
            authn.prepare_enrolment(db, user)
            sessions.start(db, user, second_factor=False)
            if target:
                flask_session[NEXT_KEY] = target
            db.commit()
            return redirect(second_factor_url(user))
        g.auth_failed = True
        db.commit()
        if result.locked_account is not None:
            # In the background: the response time must not reveal that an account exists.
            notify_in_background(current_app._get_current_object(),  # type: ignore[attr-defined]
                                 result.locked_account, "account_locked",
                                 until=result.locked_account.locked_until)
        failed = True
    form.password.data = ""
    return render_template("accounts/login.html", form=form, failed=failed)


def _link_pending() -> federated_login.LinkPending | None:
    pending = federated_login.LinkPending.from_dict(
        flask_session.get(sessions.FEDERATION_LINK_KEY))
    return pending if pending is not None and pending.is_live() else None


def _links_now(user: User) -> bool:
    """True when this local login is the one that links the federated identity just seen."""
    pending = _link_pending()
    return pending is not None and pending.user_id == user.id


def _busy(form: LoginForm) -> Response:
    """No verification slot was free: a fast 503 with the form, the login kept as typed."""
    flash(_("Many logins are being checked at this moment. Wait a few seconds and try again."),
          "error")
    form.password.data = ""
    response = current_app.make_response(
        (render_template("accounts/login.html", form=form, failed=False), 503))
    response.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
    return response


def _pending_or_redirect(
    *, enrolled: bool = False
) -> tuple[sessions.SessionState, Response | None]:
    """Return the "password checked, code pending" state, or where to go instead.

    With `enrolled`, a person who has not enrolled a TOTP yet is sent to enrolment first.
    """
    state = sessions.load_state()
    if state.full:
        return state, redirect(_home())
    if not state.pending:
        if state.expired or request.method == "POST":
            flash(_("The time to enter the code has run out. Please log in again."), "info")
        return state, redirect(url_for("accounts.login"))
    if enrolled and state.user is not None and state.user.totp_confirmed_at is None:
        return state, redirect(url_for("accounts.enrol"))
    return state, None


def _finish_login(state: sessions.SessionState, method: str) -> str:
    """Both factors passed: the pending record dies and a new session id starts."""
    db = get_session()
    user = state.user
    assert user is not None and state.record is not None
    target = safe_next_url(flask_session.get(NEXT_KEY), _home())
    state.record.revoked_at = clock.now()
    authn.complete_login(db, user, method)
    pending_link = _link_pending()
    sessions.start(db, user, second_factor=True)
    flask_session.pop(sessions.FEDERATION_LINK_KEY, None)
    if federated_login.finish_link(db, user, pending_link):
        flash(_("Your account is now linked to %(provider)s: next time, log in through it.",
                provider=settings_of(current_app).name), "success")
    return target


def _code_refused() -> str:
    return _("This code is not valid or was already used. Wait for the next code of your "
             "application and try again.")


# --- second factor ---------------------------------------------------------------------------


def _second_factor_limited(view: Any) -> Any:
    """Count failed codes per account and per address: code, recovery and enrolment share them."""
    per_account = limiter.shared_limit(
        SECOND_FACTOR_LIMITS, scope="second-factor", key_func=_account_key, methods=["POST"],
        deduct_when=_failed, on_breach=_second_factor_breached)
    per_address = limiter.shared_limit(
        SECOND_FACTOR_IP_LIMITS, scope="second-factor-ip", key_func=get_remote_address,
        methods=["POST"], deduct_when=_failed)
    return per_account(per_address(view))


@bp.route("/login/code", methods=["GET", "POST"])
@public
@_second_factor_limited
def second_factor() -> Any:
    """Ask for the TOTP code of a person whose password was just checked."""
    state, away = _pending_or_redirect(enrolled=True)
    if away is not None:
        return away
    user = state.user
    assert user is not None
    form = CodeForm()
    if form.validate_on_submit():
        db = get_session()
        outcome = authn.check_totp(db, user, form.code.data or "")
        if outcome is authn.CodeCheck.ACCEPTED:
            target = _finish_login(state, "totp")
            db.commit()
            return redirect(target)
        g.auth_failed = True
        alert = (outcome is authn.CodeCheck.REPLAYED
                 and authn.claim_second_factor_alert(db, user))
        db.commit()
        if alert:
            notify(current_app._get_current_object(), user,  # type: ignore[attr-defined]
                   "second_factor_alert", reason="replay")
        form.code.errors = [_code_refused()]
    return render_template("accounts/totp.html", form=form)


@bp.route("/login/recovery", methods=["GET", "POST"])
@public
@_second_factor_limited
def recovery() -> Any:
    """Let a person without their telephone log in with a single-use recovery code."""
    state, away = _pending_or_redirect(enrolled=True)
    if away is not None:
        return away
    user = state.user
    assert user is not None
    form = RecoveryForm()
    if form.validate_on_submit():
        db = get_session()
        if authn.use_recovery_code(db, user, form.code.data or ""):
            remaining = authn.remaining_recovery_codes(db, user)
            target = _finish_login(state, "recovery_code")
            db.commit()
            notify(current_app._get_current_object(), user,  # type: ignore[attr-defined]
                   "recovery_code_used", remaining=remaining)
            flash(_("Recovery code accepted. %(n)d codes remain: generate new ones from your "
                    "account page if you are running out.", n=remaining), "info")
            return redirect(target)
        g.auth_failed = True
        db.commit()
        form.code.errors = [_("This recovery code is not valid or was already used.")]
    return render_template("accounts/recovery.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@public
@_second_factor_limited
def enrol() -> Any:
    """Set up the second factor: mandatory before any other page (SEC-AUT-2a)."""
    state, away = _pending_or_redirect()
    if away is not None:
        return away
    user = state.user
    assert user is not None
    if user.totp_confirmed_at is not None:
        return redirect(url_for("accounts.second_factor"))
    if user.totp_secret_sealed is None:
        # The secret is drawn at the password step; without one, start again.
        return redirect(url_for("accounts.login"))
    db = get_session()
    form = CodeForm()
    if form.validate_on_submit():
        codes = authn.confirm_enrolment(db, user, form.code.data or "")
        if codes is not None:
            target = _finish_login(state, "enrolment")
            db.commit()
            notify(current_app._get_current_object(), user,  # type: ignore[attr-defined]
                   "totp_enrolled")
            return render_template("accounts/recovery_codes.html", codes=codes,
                                   next_url=target, enrolled=True)
        g.auth_failed = True
        db.commit()
        form.code.errors = [_code_refused()]
    secret = authn.totp_secret(db, user)
    qr = segno.make(authn.provisioning_uri(db, user), error="m")
    # segno builds the SVG from the URI alone: no user input reaches the markup unescaped.
    svg = Markup(qr.svg_inline(scale=5, title=_(  # noqa: S704 - escaped by segno
        "QR code to scan with your authenticator application")))
    return render_template("accounts/totp_enroll.html", form=form, qr_svg=svg,
                           secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))


@bp.post("/logout")
@public
def logout() -> Response:
    """End the session on the server: a copy of the cookie no longer works (SEC-SES-1)."""
    db = get_session()
    id_token = flask_session.get(sessions.FEDERATION_ID_TOKEN_KEY)
    federated = sessions.is_federated()
    user = sessions.end_current(db)
    if user is not None:
        details: dict[str, Any] = {"federated": True} if federated else {}
        record(db, user, AccountAction.LOGOUT, user, **details)
    db.commit()
    if federated:
        # Logged out here; the provider logs the person out too and sends them back.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        provider_logout = federation.end_session_url(app, id_token)
        if provider_logout is not None:
            return redirect(provider_logout, 303)
        flash(_("You are logged out of the portal. Close your browser to end your session at "
                "%(provider)s as well.", provider=settings_of(app).name), "info")
        return redirect(url_for("accounts.login"))
    flash(_("You are logged out."), "info")
    return redirect(url_for("accounts.login"))


# --- activation and reset links --------------------------------------------------------------


@bp.get("/activate/<token>")
@public
def activate_link(token: str) -> Response:
    """Move the token out of the address at once, into the server-signed session."""
    if len(token) <= 128:
        flask_session[ACTIVATION_KEY] = token_hash(token)
    return redirect(url_for("accounts.activate"))


@bp.route("/activate", methods=["GET", "POST"])
@public
def activate() -> Any:
    """Choose one's password through an activation or reset link (SEC-AUT-4a)."""
    db = get_session()
    token = live_token(db, flask_session.get(ACTIVATION_KEY, ""))
    if token is None:
        return render_template("accounts/activate_invalid.html"), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        purpose = token.purpose
        try:
            user = authn.set_password_with_token(db, token, form.new_password.data or "")
        except authn.PasswordRejected as exc:
            form.new_password.errors = reason_texts(exc.reasons)
        except AccountError as exc:
            form.new_password.errors = [exc.message or ""]
        else:
            sessions.end_current(db)
            authn.prepare_enrolment(db, user)
            sessions.start(db, user, second_factor=False)
            db.commit()
            if purpose == "reset":
                notify(current_app._get_current_object(), user,  # type: ignore[attr-defined]
                       "password_changed")
            flash(_("Your password is saved. One more step: the code of your authenticator "
                    "application."), "success")
            return redirect(second_factor_url(user))
    return render_template("accounts/activate.html", form=form, rules=rule_texts(),
                           login=token.user.login)


# --- one's own account -----------------------------------------------------------------------


@bp.get("/account")
@requires(Permission.SESSION_USE)
def account() -> str:
    """Show one's account: identity, last login, second factor, recovery codes left."""
    user = _current_user()
    remaining = authn.remaining_recovery_codes(get_session(), user)
    return render_template("accounts/account.html", user=user, remaining=remaining)


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Permission.SESSION_USE)
@limiter.limit(CHANGE_PASSWORD_LIMIT, key_func=_account_key, methods=["POST"],
               deduct_when=_failed)
def change_password() -> Any:
    """Change one's password: the current one is required; other sessions end."""
    user = _current_user()
    forced = authn.password_change_required(user, current_permissions())
    form = ChangePasswordForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            ended = authn.change_password(db, user, form.current_password.data or "",
                                          form.new_password.data or "",
                                          keep_session=sessions.load_state().id_hash)
        except authn.PasswordRejected as exc:
            form.new_password.errors = reason_texts(exc.reasons)
        except AccountError as exc:
            if exc.field == "current_password":
                g.auth_failed = True
                db.commit()  # the failed attempt is audited
            getattr(form, exc.field or "new_password").errors = [exc.message or ""]
        else:
            db.commit()
            notify(current_app._get_current_object(), user,  # type: ignore[attr-defined]
                   "password_changed")
            if ended:
                flash(_("Your password is changed. Your %(n)d other sessions were ended.",
                        n=ended), "success")
            else:
                flash(_("Your password is changed."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/password.html", form=form, rules=rule_texts(),
                           forced=forced)


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
@requires(Permission.SESSION_USE)
@limiter.shared_limit(SECOND_FACTOR_LIMITS, scope="second-factor", key_func=_account_key,
                      methods=["POST"], deduct_when=_failed)
def regenerate_codes() -> Any:
    """Replace the recovery codes, after the password and a fresh code (SEC-AUT-2h)."""
    user = _current_user()
    form = RegenerateForm()
    if form.validate_on_submit():
        db = get_session()
        try:
            codes = authn.regenerate_recovery_codes(db, user, form.password.data or "",
                                                    form.code.data or "")
        except AccountError as exc:
            g.auth_failed = True
            db.commit()  # the failure is audited
            getattr(form, exc.field or "code").errors = [exc.message or ""]
        else:
            db.commit()
            notify(current_app._get_current_object(), user,  # type: ignore[attr-defined]
                   "recovery_codes_regenerated")
            return render_template("accounts/recovery_codes.html", codes=codes,
                                   next_url=url_for("accounts.account"), enrolled=False)
    return render_template("accounts/regenerate.html", form=form)
