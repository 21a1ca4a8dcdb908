"""Pages of the retention area: the DPO's overview and the archivist's reading of the archive."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from portal.backups import max_backup_age_days
from portal.db import get_session
from portal.permissions import Permission, requires
from portal.retention import dashboard
from portal.retention.forms import ArchiveReadForm
from portal.retention.reading import READ_REASONS, read_archived_case, recent_archive_reads

bp = Blueprint("retention", __name__, url_prefix="/retention")


@bp.get("/")
@requires(Permission.RETENTION_OVERSEE)
def overview():  # noqa: ANN201
    session = get_session()
    return render_template("retention/overview.html", view=dashboard.overview(session),
                           reads=recent_archive_reads(session, 20), reasons=READ_REASONS,
                           backup_max_age_days=max_backup_age_days(current_app))


@bp.route("/archive", methods=["GET", "POST"])
@requires(Permission.ARCHIVE_READ)
def archive_read():  # noqa: ANN201
    form = ArchiveReadForm()
    found = None
    searched = False
    if form.validate_on_submit():
        session = get_session()
        found = read_archived_case(session, current_user._get_current_object(),  # type: ignore[attr-defined]
                                   form.case_number.data or "",
                                   form.reason.data or "", form.reason_reference.data or "")
        session.commit()
        searched = True
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("retention/archive_read.html", form=form, found=found,
                           searched=searched), status
