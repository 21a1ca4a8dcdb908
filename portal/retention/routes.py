"""Pages of the retention area: the DPO's overview and the archivist's reading of the archive."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.backups import max_backup_age_days
from portal.db import get_session
from portal.permissions import Permission, requires
from portal.retention import dashboard, services
from portal.retention.forms import AAC_KINDS, AacDecisionForm, ArchiveReadForm
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
        found = read_archived_case(session, current_user._get_current_object(),
                                   form.case_number.data or "",
                                   form.reason.data or "", form.reason_reference.data or "")
        session.commit()
        searched = True
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("retention/archive_read.html", form=form, found=found,
                           searched=searched), status


@bp.route("/aac", methods=["GET", "POST"])
@requires(Permission.AAC_RECORD)
def aac_decision():  # noqa: ANN201
    """The controller's staff record an ANSM decision on a patient's AAC (each one audited)."""
    form = AacDecisionForm()
    case = None
    status = 200
    if form.validate_on_submit():
        session = get_session()
        actor = current_user._get_current_object()
        try:
            case = services.active_case_by_number(session, actor, form.case_number.data or "")
            services.record_aac_decision(session, actor, case, form.kind.data or "",
                                         form.decision_date.data, form.end_date.data,
                                         form.evidence_reference.data)
        except services.UnknownCase:
            session.commit()  # the lookup's logged read stays on the trail
            form.case_number.errors = [_("No patient of your perimeter in the active base has "
                                         "this case number.")]
            case, status = None, 422
        except services.RetentionError as exc:
            session.rollback()
            form.decision_date.errors = [_rule_message(str(exc))]
            case, status = None, 422
        else:
            session.commit()
            flash(_("The decision is recorded."), "success")
    elif form.is_submitted():
        status = 422
    return render_template("retention/aac.html", form=form, case=case, kinds=AAC_KINDS,
                           case_number=(form.case_number.data or "").strip().upper()), status


#: what the page says for each refusal of the rules (services.record_aac_decision)
_RULE_MESSAGES = {
    "a grant or renewal needs its end date":
        _l("A grant or a renewal needs the last day of its period."),
    "the end date is before the decision date":
        _l("The last day of the period is before the decision."),
    "an AAC period lasts at most one year from its decision":
        _l("An AAC period lasts at most one year from its decision."),
    "a suspension or withdrawal has no end date":
        _l("A suspension or a withdrawal has no end date: leave it empty."),
    "the case is archived: its AAC dates can no longer change":
        _l("The case is archived: its AAC dates can no longer change."),
}


def _rule_message(message: str) -> str:
    return str(_RULE_MESSAGES.get(message, _l("The decision cannot be recorded.")))
