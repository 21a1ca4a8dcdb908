"""Administration pages: establishments, people's grants, approvals and the annual review."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from portal import clock
from portal.access import labels, reporting, services
from portal.access import people as people_list
from portal.access.forms import (
    ActionForm,
    EndForm,
    EstablishmentForm,
    GrantForm,
    MemberForm,
    ReviewChangeForm,
)
from portal.access.hooks import current_user_or_none
from portal.access.models import AccessGrant, Establishment, GrantStatus
from portal.accounts.models import User
from portal.accounts.services import user_by_login
from portal.db import get_session
from portal.errors import BadRequest, NotFound, PortalError
from portal.permissions import Permission, requires

bp = Blueprint("access", __name__, url_prefix="/access")


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"ROLE_LABELS": labels.ROLE_LABELS, "SCOPE_LABELS": labels.SCOPE_LABELS,
            "CATEGORY_LABELS": labels.CATEGORY_LABELS, "STATUS_LABELS": labels.STATUS_LABELS,
            "DECISION_LABELS": labels.DECISION_LABELS, "END_REASONS": services.END_REASONS,
            "MOTIVATIONS": services.MOTIVATIONS, "now": clock.now(),
            "review_due_at": services.review_due_at}


def _me() -> User:
    user = current_user_or_none()
    if user is None:  # the authorizer already refused anonymous visitors
        raise NotFound()
    return user


def _get(model: type, ident: int) -> Any:
    found = get_session().get(model, ident)
    if found is None:
        raise NotFound()
    return found


def _local_day(day: date, end: bool) -> datetime:
    zone = reporting.local_zone(get_session())
    return reporting.day_end(day, zone) if end else reporting.day_start(day, zone)


# --- establishments --------------------------------------------------------------------------


@bp.route("/establishments", methods=["GET", "POST"])
@requires(Permission.GRANT_ADMIN)
def establishments() -> Any:
    """List establishments and register a new one."""
    session = get_session()
    form = EstablishmentForm()
    status = 200
    if form.validate_on_submit():
        try:
            made = services.create_establishment(session, _me(), form.finess.data,
                                                 form.name.data, form.city.data)
        except PortalError as exc:
            form.finess.errors.append(str(exc.message))
            status = 400
        else:
            session.commit()
            flash(_("Establishment %(name)s registered.", name=made.name), "success")
            return redirect(url_for("access.establishments"))
    elif form.is_submitted():
        status = 400
    rows = session.execute(
        select(Establishment, func.count(Establishment.members.prop.secondary.c.user_id))
        .outerjoin(Establishment.members.prop.secondary)
        .group_by(Establishment.id).order_by(Establishment.name)
    ).all()
    return render_template("access/establishments.html", rows=rows, form=form), status


@bp.route("/establishments/<int:establishment_id>", methods=["GET", "POST"])
@requires(Permission.GRANT_ADMIN)
def establishment(establishment_id: int) -> Any:
    """Show an establishment's members and add one by login."""
    session = get_session()
    place = _get(Establishment, establishment_id)
    form = MemberForm()
    status = 200
    if form.validate_on_submit():
        user = user_by_login(session, form.login.data.strip())
        if user is None:
            form.login.errors.append(_("No account has this login."))
            status = 400
        else:
            try:
                services.add_member(session, _me(), user, place)
            except PortalError as exc:
                form.login.errors.append(str(exc.message))
                status = 400
            else:
                session.commit()
                flash(_("%(name)s added.", name=user.full_name), "success")
                return redirect(url_for("access.establishment", establishment_id=place.id))
    elif form.is_submitted():
        status = 400
    members = sorted(place.members, key=lambda u: (u.last_name, u.first_name))
    return render_template("access/establishment.html", place=place, members=members,
                           form=form, remove_form=ActionForm()), status


@bp.post("/establishments/<int:establishment_id>/members/<int:user_id>/remove")
@requires(Permission.GRANT_ADMIN)
def remove_member(establishment_id: int, user_id: int) -> ResponseReturnValue:
    """Remove a person from an establishment no grant of theirs still covers."""
    session = get_session()
    place, user = _get(Establishment, establishment_id), _get(User, user_id)
    if not ActionForm().validate_on_submit():
        raise BadRequest()
    services.remove_member(session, _me(), user, place)
    session.commit()
    flash(_("%(name)s removed.", name=user.full_name), "success")
    return redirect(url_for("access.establishment", establishment_id=place.id))


# --- people and grants -----------------------------------------------------------------------


@bp.route("/people", methods=["GET", "POST"])
@requires(Permission.GRANT_ADMIN)
def people() -> Any:
    """List people with their current grants, a page at a time, searchable by login or name
    (sent by POST only) and sortable; and the grants waiting for approval."""
    session = get_session()
    source = request.form if request.method == "POST" else request.args
    typed = request.form.get("q", "") if request.method == "POST" else ""
    arguments: dict[str, Any] = {"sort": source.get("sort") or None,
                                 "after": source.get("after") or None}
    error = None
    try:
        page = people_list.people_page(session, search=typed, **arguments)
    except people_list.SearchTooLong:
        error = _("A login or a name has at most %(n)s characters.", n=people_list.MAX_SEARCH)
        page = people_list.people_page(session, sort=arguments["sort"])
    return render_template("access/people.html", page=page, typed=typed, search_error=error,
                           sorts=people_list.SORT_LABELS,
                           pending=services.pending_grants(session), form=ActionForm(),
                           me=_me()), 422 if error else 200


@bp.get("/people/<int:user_id>")
@requires(Permission.GRANT_ADMIN)
def person(user_id: int) -> str:
    """Show one person's grants and memberships, with the actions on each grant."""
    session = get_session()
    user = _get(User, user_id)
    return render_template("access/person.html", person=user,
                           grants=services.grants_of(session, user),
                           memberships=services.memberships_of(session, user),
                           form=ActionForm(), end_form=EndForm(), me=_me())


@bp.route("/people/<int:user_id>/grants/new", methods=["GET", "POST"])
@requires(Permission.GRANT_ADMIN)
def new_grant(user_id: int) -> Any:
    """Ask for a grant for a person (identifying health data then wait for approval)."""
    session = get_session()
    user = _get(User, user_id)
    memberships = services.memberships_of(session, user)
    form = GrantForm()
    form.establishments.choices = [SelectChoice(e.id, f"{e.name} ({e.finess})")
                                  for e in memberships]
    status = 200
    chosen = [e for e in memberships if e.id in (form.establishments.data or [])]
    start = (_local_day(form.valid_from.data, end=False) if form.valid_from.data
             else clock.now())
    until = _local_day(form.valid_until.data, end=True) if form.valid_until.data else None
    wanted = services.GrantRequest(
        user, form.role.data, form.scope.data, form.category.data, start, until, chosen,
        protocol_key=form.protocol_key.data, motivation=form.motivation.data,
        motivation_reference=form.motivation_reference.data,
    )
    if form.validate_on_submit():
        try:
            grant = services.request_grant(session, _me(), wanted)
        except services.GrantRefused as exc:
            _put_problems(form, exc.problems)
            status = 400
        except PortalError as exc:
            form.form_errors.append(str(exc.message))
            status = 400 if isinstance(exc, BadRequest) else exc.status
        else:
            session.commit()
            if grant.status == GrantStatus.PENDING_APPROVAL:
                flash(_("Grant requested: a second administrator must approve it."), "success")
            else:
                flash(_("Grant created."), "success")
            return redirect(url_for("access.person", user_id=user.id))
    elif form.is_submitted():
        status = 400
        # Every error at once: the rules the values the form accepted break, too.
        refused = {name for name, field in form._fields.items() if field.errors}
        try:
            problems = services.grant_problems(session, _me(), wanted)
        except PortalError as exc:
            problems = [(None, str(exc.message))]
        _put_problems(form, [(f, m) for f, m in problems if f not in refused])
    return render_template("access/grant_form.html", person=user, form=form), status


def _put_problems(form: GrantForm, problems: list[tuple[str | None, str]]) -> None:
    """Show each broken rule on its field (on the form when it names none)."""
    for name, message in problems:
        field = form._fields.get(name) if name else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)


def _grant_action(grant_id: int, form_class: type = ActionForm) -> tuple[AccessGrant, Any]:
    grant = _get(AccessGrant, grant_id)
    form = form_class()
    if not form.validate_on_submit():
        raise BadRequest(_("Choose a reason from the list."))
    return grant, form


def _back(grant: AccessGrant) -> ResponseReturnValue:
    target = request.form.get("back")
    if target == "people":
        return redirect(url_for("access.people"))
    return redirect(url_for("access.person", user_id=grant.user_id))


@bp.post("/grants/<int:grant_id>/approve")
@requires(Permission.GRANT_ADMIN)
def approve(grant_id: int) -> ResponseReturnValue:
    """Approve another administrator's request (maker-checker)."""
    grant, _form = _grant_action(grant_id)
    services.approve_grant(get_session(), _me(), grant)
    get_session().commit()
    flash(_("Grant approved."), "success")
    return _back(grant)


@bp.post("/grants/<int:grant_id>/withdraw")
@requires(Permission.GRANT_ADMIN)
def withdraw(grant_id: int) -> ResponseReturnValue:
    """Withdraw a grant or refuse a request; the person's sessions end at once."""
    grant, form = _grant_action(grant_id, EndForm)
    services.withdraw_grant(get_session(), _me(), grant, form.reason.data)
    get_session().commit()
    flash(_("Grant withdrawn; the person's open sessions have ended."), "success")
    return _back(grant)


@bp.post("/grants/<int:grant_id>/suspend")
@requires(Permission.GRANT_ADMIN)
def suspend(grant_id: int) -> ResponseReturnValue:
    """Suspend a grant until it is reinstated."""
    grant, form = _grant_action(grant_id, EndForm)
    services.suspend_grant(get_session(), _me(), grant, form.reason.data)
    get_session().commit()
    flash(_("Grant suspended."), "success")
    return _back(grant)


@bp.post("/grants/<int:grant_id>/reinstate")
@requires(Permission.GRANT_ADMIN)
def reinstate(grant_id: int) -> ResponseReturnValue:
    """Lift a suspension."""
    grant, _form = _grant_action(grant_id)
    services.reinstate_grant(get_session(), _me(), grant)
    get_session().commit()
    flash(_("Grant reinstated."), "success")
    return _back(grant)


# --- annual review ---------------------------------------------------------------------------


@bp.get("/review")
@requires(Permission.GRANT_REVIEW)
def review() -> str:
    """List the grants due for their annual review, grouped by manager."""
    groups = services.grants_due_for_review(get_session())
    return render_template("access/review.html", groups=groups, form=ActionForm(), me=_me())


@bp.get("/review.csv")
@requires(Permission.GRANT_REVIEW)
def review_csv() -> Response:
    """Download the grants due for review as CSV."""
    session = get_session()
    body = reporting.export_review(session, _me())
    session.commit()
    stamp = clock.now().strftime("%Y%m%d")
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="grants-due-{stamp}.csv"',
        "Cache-Control": "no-store",
    })


@bp.post("/review/<int:grant_id>/<any(keep, revoke):decision>")
@requires(Permission.GRANT_REVIEW)
def review_decide(grant_id: int, decision: str) -> ResponseReturnValue:
    """Record a keep or revoke decision."""
    grant, _form = _grant_action(grant_id)
    services.review_grant(get_session(), _me(), grant, decision)
    get_session().commit()
    flash(_("Decision recorded for grant #%(id)d.", id=grant.id), "success")
    return redirect(url_for("access.review"))


@bp.route("/review/<int:grant_id>/change", methods=["GET", "POST"])
@requires(Permission.GRANT_REVIEW)
def review_change(grant_id: int) -> Any:
    """Narrow a grant at review."""
    session = get_session()
    grant = _get(AccessGrant, grant_id)
    form = ReviewChangeForm(obj=None if request.method == "POST" else _ReviewDefaults(grant))
    form.establishments.choices = [SelectChoice(e.id, f"{e.name} ({e.finess})")
                                   for e in grant.establishments]
    status = 200
    if form.validate_on_submit():
        chosen = [e for e in grant.establishments if e.id in (form.establishments.data or [])]
        zone = reporting.local_zone(session)
        # The same last day as now keeps the exact end time; another day is a change.
        same_day = form.valid_until.data == grant.valid_until.astimezone(zone).date()
        until = None if same_day else _local_day(form.valid_until.data, end=True)
        try:
            services.review_grant(
                session, _me(), grant, "change", scope=form.scope.data,
                category=form.category.data, valid_until=until,
                establishments=chosen if grant.establishments else None,
            )
        except PortalError as exc:
            form.form_errors.append(str(exc.message))
            status = 400 if isinstance(exc, BadRequest) else exc.status
        else:
            session.commit()
            flash(_("Grant #%(id)d changed.", id=grant.id), "success")
            return redirect(url_for("access.review"))
    elif form.is_submitted():
        status = 400
    return render_template("access/review_change.html", grant=grant, form=form), status


class _ReviewDefaults:
    """The grant's current values, to fill the change form."""

    def __init__(self, grant: AccessGrant) -> None:
        zone = reporting.local_zone(get_session())
        self.scope = grant.scope
        self.category = grant.category
        self.valid_until = grant.valid_until.astimezone(zone).date()
        self.establishments = [e.id for e in grant.establishments]

