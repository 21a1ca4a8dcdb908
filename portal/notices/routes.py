"""Notice pages: public notices (no login, no cookie), the DPO's editor, the first-login page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms.validators import Optional

from portal.accounts.authorization import current_permissions
from portal.db import get_session
from portal.errors import NotFound
from portal.notices import acknowledgements as acks
from portal.notices import services
from portal.notices.catalog import (
    AUDIENCE_DESCRIPTIONS,
    LANGS,
    Audience,
    audience_title,
    slots_for,
)
from portal.notices.forms import (
    AcknowledgeForm,
    AcknowledgementFilterForm,
    ConfirmForm,
    PublishForm,
    field_names,
    form_data,
    options,
    slots_form_class,
    values_from_form,
)
from portal.notices.models import NoticeVersion
from portal.notices.rendering import current_lang, render_body, slot_display
from portal.notices.slots import as_audience
from portal.notices.transfers import with_register_transfers
from portal.permissions import Permission, public, requires
from portal.security import safe_next_url

bp = Blueprint("notices", __name__, url_prefix="/notices")

ACKNOWLEDGEMENTS_PER_PAGE = 100


def _user() -> Any:
    return current_user._get_current_object()


# --- public pages ----------------------------------------------------------------------------
# These pages must not set any cookie: no session write, no flash, no CSRF token. The language
# comes from ?lang= and every link on them carries it.


def _public_lang() -> str:
    asked = request.args.get("lang")
    return asked if asked in LANGS else current_lang()


def _public_context(lang: str) -> dict[str, Any]:
    endpoint = request.endpoint or "notices.index"
    view_args = dict(request.view_args or {})

    def language_url(code: str) -> str:
        return url_for(endpoint, **view_args, lang=code)

    return {"lang": lang, "language_url": language_url}


@bp.get("/")
@public
def index() -> str:
    """List the notices in force, for anyone."""
    lang = _public_lang()
    session = get_session()
    notices = [(audience, services.current_published(session, audience))
               for audience in Audience]
    return render_template("notices/index.html", notices=notices,
                           descriptions=AUDIENCE_DESCRIPTIONS, **_public_context(lang))


@bp.get("/<audience>")
@public
def show(audience: str) -> str:
    """Show the notice in force for an audience, printable."""
    lang = _public_lang()
    chosen = as_audience(audience)
    version = services.current_published(get_session(), chosen)
    if version is None:
        raise NotFound(_("This notice has not been published yet. The laboratory's data "
                         "protection officer publishes it before the portal is used."))
    return _render_public(chosen, version, lang)


@bp.get("/<audience>/v<int:number>")
@public
def show_version(audience: str, number: int) -> str:
    """Show an earlier (or the current) published version of a notice."""
    lang = _public_lang()
    chosen = as_audience(audience)
    version = services.published_version(get_session(), chosen, number)
    return _render_public(chosen, version, lang)


@bp.get("/<audience>/versions")
@public
def history(audience: str) -> str:
    """List the published versions of a notice, newest first."""
    lang = _public_lang()
    chosen = as_audience(audience)
    versions = services.versions_of(get_session(), chosen, published_only=True)
    if not versions:
        raise NotFound(_("This notice has not been published yet."))
    return render_template("notices/history.html", audience=chosen, versions=versions,
                           title=audience_title(chosen), **_public_context(lang))


def _render_public(audience: Audience, version: NoticeVersion, lang: str) -> str:
    versions = services.versions_of(get_session(), audience, published_only=True)
    return render_template("notices/public.html", audience=audience, version=version,
                           body=version.body(lang), title=audience_title(audience),
                           has_history=len(versions) > 1, **_public_context(lang))


# --- the DPO's editor ------------------------------------------------------------------------


@bp.get("/manage")
@requires(Permission.NOTICE_MANAGE)
def manage() -> str:
    """Show every audience with its version in force and its draft."""
    session = get_session()
    rows = [
        {
            "audience": audience,
            "title": audience_title(audience),
            "published": services.current_published(session, audience),
            "draft": services.current_draft(session, audience),
        }
        for audience in Audience
    ]
    return render_template("notices/manage.html", rows=rows, form=ConfirmForm(),
                           differing=services.inconsistent_shared_slots(session))


@bp.post("/manage/<audience>/draft")
@requires(Permission.NOTICE_MANAGE)
def start_draft(audience: str) -> Response:
    """Start the next version of a notice."""
    chosen = as_audience(audience)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash(_("The form expired: try again."), "error")
        return redirect(url_for(".manage"))
    session = get_session()
    version = services.start_draft(session, _user(), chosen)
    session.commit()
    flash(_("Draft of version %(n)d started.", n=version.number), "success")
    return redirect(url_for(".edit", version_id=version.id))


def _problem_anchor(key: str) -> str:
    return f"slot-{key}"


def _version_page(version: NoticeVersion, publish_form: PublishForm | None = None,
                  problems: list[services.MissingSlot] | None = None,
                  status: int = 200) -> tuple[str, int]:
    session = get_session()
    lang: str = request.args["lang"] if request.args.get("lang") in LANGS else current_lang()
    audience = Audience(version.audience)
    previous, changes = services.diff(session, version)
    if version.is_draft:
        values = with_register_transfers(session, version.slots)
        body: str = render_body(audience, values, lang, number=version.number, preview=True)
        if problems is None:
            problems = services.missing_slots(audience, values)
        if publish_form is None:
            publish_form = PublishForm(formdata=None, revision=version.revision,
                                       material=("material"
                                                 if services.suggests_material(session, version)
                                                 else None))
    else:
        body = version.body(lang) or ""
        problems = []
    html = render_template(
        "notices/version.html", version=version, audience=audience,
        title=audience_title(audience), body=body, lang=lang, previous=previous,
        changes=changes, problems=problems, anchor=_problem_anchor, publish_form=publish_form,
        discard_form=ConfirmForm(), first=previous is None and version.is_draft,
        material_changes=[c for c in changes if c.slot.material],
        display=slot_display,
    )
    return html, status


@bp.get("/manage/versions/<int:version_id>")
@requires(Permission.NOTICE_MANAGE)
def version(version_id: int) -> tuple[str, int]:
    """Show a version: preview, completeness, what changed, and the publication form."""
    return _version_page(services.get_version(get_session(), version_id))


@bp.route("/manage/versions/<int:version_id>/edit", methods=["GET", "POST"])
@requires(Permission.NOTICE_MANAGE)
def edit(version_id: int) -> Any:
    """Edit the slots of a draft."""
    session = get_session()
    version = services.get_version(session, version_id)
    if not version.is_draft:
        flash(_("A published version cannot be changed: start a new draft."), "error")
        return redirect(url_for(".version", version_id=version.id))
    audience = Audience(version.audience)
    form_class = slots_form_class(audience)
    if request.method == "POST":
        form = form_class()
    else:
        form = form_class(data={**form_data(audience, version.slots),
                                "revision": version.revision})
        form.add_blank_transfer_rows()
    form.set_country_choices(current_lang())
    if form.validate_on_submit():
        expected = int(form.revision.data) if str(form.revision.data).isdigit() else -1
        changes = services.update_draft(session, _user(), version,
                                        values_from_form(audience, form), expected)
        session.commit()
        if changes:
            flash(ngettext("Draft saved: %(num)d slot changed.",
                           "Draft saved: %(num)d slots changed.", len(changes)), "success")
        else:
            flash(_("Nothing changed."), "info")
        return redirect(url_for(".version", version_id=version.id))
    problems = services.missing_slots(audience, version.slots)
    return render_template("notices/edit.html", version=version, audience=audience,
                           title=audience_title(audience), form=form,
                           slots=slots_for(audience), field_names=field_names,
                           missing={p.key for p in problems})


@bp.post("/manage/versions/<int:version_id>/publish")
@requires(Permission.NOTICE_MANAGE)
def publish(version_id: int) -> Any:
    """Approve and publish a draft; refused while a mandatory slot is empty."""
    session = get_session()
    version = services.get_version(session, version_id)
    form = PublishForm()
    if services.previous_published(session, version) is None:
        # A first version is always material: nobody has acknowledged anything yet.
        form.material.validators = [Optional()]
    if not form.validate_on_submit():
        return _version_page(version, publish_form=form, status=400)
    try:
        services.publish(session, _user(), version, form.material.data == "material",
                         expected_revision=form.revision.data)
    except services.NoticeIncomplete as refused:
        session.rollback()
        form.form_errors.extend(p.message for p in refused.problems)
        return _version_page(services.get_version(session, version_id), publish_form=form,
                             problems=refused.problems, status=400)
    session.commit()
    flash(_("Version %(n)d is published.", n=version.number), "success")
    return redirect(url_for(".version", version_id=version.id))


@bp.post("/manage/versions/<int:version_id>/discard")
@requires(Permission.NOTICE_MANAGE)
def discard(version_id: int) -> Response:
    """Delete a draft."""
    session = get_session()
    version = services.get_version(session, version_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        number = version.number
        services.discard_draft(session, _user(), version)
        session.commit()
        flash(_("Draft of version %(n)d deleted.", n=number), "success")
    return redirect(url_for(".manage"))


#: the highest page number the acknowledgements list takes
MAX_ACKNOWLEDGEMENT_PAGE = 1_000_000


def _row_number(text: str) -> int | None:
    """A typed number that fits the database's integers (ASCII digits only), else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


@bp.get("/manage/acknowledgements")
@requires(Permission.NOTICE_MANAGE)
def acknowledgements() -> str:
    """List who acknowledged which transparency version, and when."""
    session = get_session()
    versions = acks.transparency_versions(session)
    form = AcknowledgementFilterForm(request.args)
    form.version.choices = options([("", _("All versions"))] + [
        (v.id, _("Version %(n)d", n=v.number)) for v in versions
    ])
    version_id = _row_number(str(form.version.data or ""))
    # A page number beyond any list (say one with 30 digits) shows an empty page.
    page_number = min(max(_row_number(request.args.get("page", "1")) or 1, 1),
                      MAX_ACKNOWLEDGEMENT_PAGE)
    rows, total = acks.acknowledgements(session, version_id, limit=ACKNOWLEDGEMENTS_PER_PAGE,
                                        offset=(page_number - 1) * ACKNOWLEDGEMENTS_PER_PAGE)
    return render_template("notices/acknowledgements.html", form=form, rows=rows, total=total,
                           page=page_number, per_page=ACKNOWLEDGEMENTS_PER_PAGE,
                           version_id=version_id)


# --- first login -----------------------------------------------------------------------------


@bp.get("/closed")
@requires(Permission.SESSION_USE)
def closed() -> Any:
    """Say why data pages are closed: no notice for portal users is published (10.6)."""
    session = get_session()
    if services.current_published(session, Audience.TRANSPARENCY) is not None:
        return redirect(url_for("home.home"))
    return render_template(
        "notices/closed.html", title=audience_title(Audience.TRANSPARENCY),
        may_publish=Permission.NOTICE_MANAGE in current_permissions())


@bp.route("/acknowledge", methods=["GET", "POST"])
@requires(Permission.SESSION_USE)
def acknowledge() -> Any:
    """Show the transparency notice and the IT charter in full; record that they were read."""
    session = get_session()
    user = _user()
    target = safe_next_url(request.args.get("next"), url_for("home.home"))
    version = services.current_published(session, Audience.TRANSPARENCY)
    if version is None:
        return redirect(target)
    pending = acks.pending_version(session, user)
    form = AcknowledgeForm(version_id=version.id)
    outdated = False
    if form.validate_on_submit():
        if form.version_id.data == version.id:
            acks.acknowledge(session, user, version)
            session.commit()
            return redirect(target)
        # A newer version was published while the page was open: show it instead.
        outdated = True
        form = AcknowledgeForm(formdata=None, version_id=version.id)
    lang = current_lang()
    existing = acks.acknowledgement_of(session, user, version)
    return render_template("notices/acknowledge.html", version=version, body=version.body(lang),
                           form=form, pending=pending is not None or existing is None,
                           acknowledged_at=existing.acknowledged_at if existing else None,
                           outdated=outdated, lang=lang,
                           title=audience_title(Audience.TRANSPARENCY))
