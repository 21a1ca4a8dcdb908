"""Account administration: list, create (mails the activation link), disable, reset, unlock."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from portal import clock
from portal.accounts import services
from portal.accounts.forms import ResetForm, UserActionForm, UserForm
from portal.accounts.models import User
from portal.accounts.notifications import notify
from portal.accounts.sessions import load_state
from portal.db import get_session
from portal.errors import BadRequest, Conflict, Forbidden, NotFound
from portal.permissions import Permission, requires

bp = Blueprint("users", __name__, url_prefix="/admin/users")


@bp.after_request
def _never_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _actor() -> User:
    user = load_state().user
    assert user is not None
    return user


def _target(db: Session, form: UserActionForm) -> User:
    # The account is named in the POST body, never in the address (SEC-WEB-4).
    try:
        user_id = int(form.user_id.data or "")
    except ValueError:
        raise BadRequest() from None
    user = db.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def _send_link(user: User, token: str, kind: str) -> None:
    db = get_session()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    sent = notify(app, user, kind, link=services.activation_url(db, token),
                  hours=int(services.TOKEN_LIFETIME.total_seconds() // 3600))
    if sent:
        flash(_("A link was mailed to %(email)s; it works once, for 24 hours.",
                email=user.email), "success")
    else:
        flash(_("The mail could not be sent. Check the mail server, then use \"New link\" "
                "to send another one."), "error")


@bp.get("/")
@requires(Permission.USER_ADMIN)
def list_users() -> str:
    """List every account with its state and the actions available."""
    db = get_session()
    users = services.list_users(db)
    now = clock.now()
    rows = [(user, services.account_status(user, now)) for user in users]
    return render_template("accounts/users.html", rows=rows, action_form=UserActionForm(),
                           reset_form=ResetForm(), me=_actor())


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.USER_ADMIN)
def create() -> Any:
    """Create an account; the person receives an activation link and chooses the password."""
    form = UserForm()
    if form.validate_on_submit():
        db = get_session()
        data = services.NewAccount(
            login=form.login.data or "", first_name=form.first_name.data or "",
            last_name=form.last_name.data or "", email=form.email.data or "",
            phone=form.phone.data, specialty=form.specialty.data, rpps=form.rpps.data,
            locale=form.locale.data,
        )
        try:
            user, token = services.create_user(db, _actor(), data)
        except services.AccountError as exc:
            db.rollback()
            field = getattr(form, exc.field or "", None)
            if field is not None:
                field.errors = [*field.errors, exc.message or ""]
            else:
                flash(exc.message or "", "error")
        else:
            db.commit()
            flash(_("The account %(login)s is created.", login=user.login), "success")
            _send_link(user, token, "activation")
            return redirect(url_for("users.list_users"))
    return render_template("accounts/user_form.html", form=form)


def _act(form: UserActionForm, action: Any, done: str) -> Response:
    if not form.validate_on_submit():
        raise BadRequest()
    db = get_session()
    user = _target(db, form)
    try:
        result = action(db, user)
    except (Conflict, Forbidden) as exc:
        db.rollback()
        flash(exc.message or _("This action is not possible."), "error")
        return redirect(url_for("users.list_users"))
    db.commit()
    flash(done % {"name": user.full_name}, "success")
    if isinstance(result, str):
        _send_link(user, result, "reset" if user.is_activated else "activation")
    return redirect(url_for("users.list_users"))


@bp.post("/disable")
@requires(Permission.USER_ADMIN)
def disable() -> Response:
    """Disable an account: its sessions, second factor and links end at once."""
    return _act(UserActionForm(), lambda db, user: services.disable_user(db, _actor(), user),
                _("The account of %(name)s is disabled and its sessions are ended."))


@bp.post("/reset")
@requires(Permission.USER_ADMIN)
def reset() -> Response:
    """Mail a new single-use link so the person chooses a new password."""
    form = ResetForm()
    return _act(form, lambda db, user: services.reset_user(
        db, _actor(), user, reset_second_factor=bool(form.reset_second_factor.data)),
        _("A new link was issued for %(name)s; their sessions are ended."))


@bp.post("/unlock")
@requires(Permission.USER_ADMIN)
def unlock() -> Response:
    """Lift a login lock after checking the person's identity."""
    return _act(UserActionForm(), lambda db, user: services.unlock_user(db, _actor(), user),
                _("The account of %(name)s is unlocked."))
