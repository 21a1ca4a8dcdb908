"""The trail and its alerts, for the auditors and the DPO only; every consultation is logged."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from portal import clock
from portal.audit.actions import AuditAction
from portal.audit.checks import check_status
from portal.audit.forms import EventFilterForm
from portal.audit.lookups import case_names
from portal.audit.rules import RULE_LABELS
from portal.audit.services import lock_head, record
from portal.audit.settings import timezone_name
from portal.audit.trail import (
    count_events,
    csv_lines,
    list_alerts,
    list_events,
    logged_filter,
    names_on,
)
from portal.db import get_session, new_session
from portal.errors import BadRequest
from portal.permissions import Permission, requires

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _actor() -> Any:
    return current_user._get_current_object()


def _zone() -> ZoneInfo:
    return ZoneInfo(timezone_name(current_app._get_current_object()))  # type: ignore[attr-defined]


def _source() -> Any:
    """Where the filter and the page keys come from: the POST body only when filtered.

    Filter values (logins, patient codes) never travel in a URL, where proxies, the server's
    access log and the browser's history would keep them; a GET reads the page keys and the
    sort only, of the unfiltered trail.
    """
    return request.form if request.method == "POST" else request.args


def _positive_int(name: str) -> int | None:
    raw = _source().get(name)
    if raw in (None, ""):
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest()
    return int(raw)


def _filter_form() -> EventFilterForm:
    return EventFilterForm(formdata=request.form if request.method == "POST" else MultiDict())


@bp.route("/", methods=["GET", "POST"])
@requires(Permission.AUDIT_READ)
def events() -> str | tuple[str, int]:
    """List the trail, newest first, filtered; the consultation is itself logged."""
    form = _filter_form()
    session = get_session()
    status = check_status(session)
    oldest = _source().get("sort") == "oldest"
    if not form.validate():
        return render_template("audit/events.html", form=form, page=None, status=status,
                               filters={}, sorts=EVENT_SORTS, oldest=oldest), 400
    flt = form.to_filter()
    before, after = _positive_int("before"), _positive_int("after")
    page = list_events(session, flt, _zone(), before=None if oldest else before, after=after,
                       oldest_first=oldest)
    record(session, _actor(), AuditAction.EVENTS_READ, **logged_filter(session, flt),
           before=before,
           after=after, shown=len(page.entries), sort="oldest" if oldest else "newest")
    session.commit()
    filters = {field.name: request.form[field.name] for field in form
               if request.method == "POST" and request.form.get(field.name)}
    return render_template("audit/events.html", form=form, page=page, status=status,
                           filters=filters, names=names_on(session, page.entries),
                           sort="oldest" if oldest else "newest",
                           oldest=oldest, sorts=EVENT_SORTS, continued=after is not None
                           or before is not None)


#: how the trail may be ordered (by sequence number, which follows time)
EVENT_SORTS = {"newest": _l("Newest first"), "oldest": _l("Oldest first")}


@bp.route("/export.csv", methods=["GET", "POST"])
@requires(Permission.AUDIT_READ)
def export_events() -> Response:
    """Download the filtered trail as CSV; the export and its row count are logged first.

    The filter comes in the POST body, as on the list (a GET exports the whole trail)."""
    form = _filter_form()
    if not form.validate():
        raise BadRequest()
    flt = form.to_filter()
    session = get_session()
    zone = _zone()
    # Holding the head fixes what the export holds: every entry before its own.
    head_seq, _hash = lock_head(session)
    row_count = count_events(session, flt, zone, head_seq)
    record(session, _actor(), AuditAction.EVENTS_EXPORT, **logged_filter(session, flt),
           row_count=row_count,
           up_to_seq=head_seq)
    session.commit()

    def generate() -> Any:
        with new_session() as reader:
            yield from csv_lines(reader, flt, zone, head_seq)

    filename = f"audit-trail-{clock.now():%Y%m%d-%H%M%S}.csv"
    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/alerts")
@requires(Permission.AUDIT_READ)
def alerts() -> str:
    """List the alerts of the automatic checks, newest first; the consultation is logged."""
    page = _positive_int("page") or 1
    session = get_session()
    rows, has_next = list_alerts(session, page)
    record(session, _actor(), AuditAction.ALERTS_READ, page=page, shown=len(rows))
    session.commit()
    refs = {alert.target_ref for alert in rows if alert.target_ref}
    return render_template("audit/alerts.html", alerts=rows, page=page, has_next=has_next,
                           names=case_names(session, refs) if refs else {},
                           status=check_status(session), rule_labels=RULE_LABELS)
