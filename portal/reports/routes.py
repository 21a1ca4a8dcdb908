"""Pages of the reports: the calendar, a report's tables and files, the dashboard.

Open to those who read aggregates (medical affairs, the pharmacist in charge): figures only,
with the reports' suppression; every generation and download is audited.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal import clock
from portal.audit.services import record
from portal.db import get_session
from portal.errors import NotFound
from portal.extensions import limiter
from portal.permissions import Permission, public, requires
from portal.protocols.services import current_version, loaded
from portal.reports import settings
from portal.reports.calendar import Status, approved_reports, reports_of, status_of
from portal.reports.charts import bar_chart
from portal.reports.dashboard import build
from portal.reports.models import SummaryReport
from portal.reports.outputs import PDF_REPORT, PDF_RESUME, XLSX_NAME, pdf_bytes, xlsx_bytes
from portal.reports.services import (
    ReportAction,
    ReportError,
    generate,
    generations_of,
    latest_generation,
    stored,
)

bp = Blueprint("reports", __name__, url_prefix="/reports")

_FILES = {
    PDF_REPORT: "application/pdf",
    PDF_RESUME: "application/pdf",
    XLSX_NAME: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


#: how a report's status reads on the pages
STATUS_LABELS = {
    Status.planned: _l("interval running"),
    Status.in_preparation: _l("in preparation"),
    Status.overdue: _l("overdue"),
    Status.submitted: _l("submitted, awaiting approval"),
    Status.approved: _l("résumé approved"),
}


@bp.context_processor
def _words() -> dict[str, Any]:
    return {"status_labels": STATUS_LABELS, "zip": zip}


def _actor() -> Any:
    return current_user._get_current_object()


def _today() -> Any:
    zone = ZoneInfo(current_app.config.get("TIMEZONE") or "Europe/Paris")
    return clock.now().astimezone(zone).date()


def _report(report_id: int) -> SummaryReport:
    report = get_session().get(SummaryReport, report_id)
    if report is None:
        raise NotFound()
    return report


@bp.get("/")
@requires(Permission.AGGREGATE_READ)
def calendar() -> str:
    """The reports due, their data lock and status, overdue ones first in attention."""
    today = _today()
    reports = [(r, status_of(r, today)) for r in reports_of(get_session())]
    return render_template("reports/calendar.html", reports=reports)


@bp.get("/<int:report_id>")
@requires(Permission.AGGREGATE_READ)
def show(report_id: int) -> str:
    """A report's tables, as its latest generation showed them."""
    session = get_session()
    report = _report(report_id)
    generation = latest_generation(session, report)
    meta, tables = stored(generation) if generation is not None else (None, [])
    return render_template(
        "reports/report.html",
        report=report,
        generation=generation,
        meta=meta,
        tables=tables,
        status=status_of(report, _today()),
        generations=generations_of(session, report),
    )


@bp.post("/<int:report_id>/generate")
@requires(Permission.AGGREGATE_READ)
def generate_report(report_id: int) -> Any:
    """Compute the report again as of its data lock (the same numbers, unless data was
    limited or erased since)."""
    session = get_session()
    report = _report(report_id)
    try:
        generate(session, _actor(), report.protocol_key, report.data_lock_date)
    except ReportError:
        raise NotFound() from None
    session.commit()
    return redirect(url_for("reports.show", report_id=report.id), code=303)


@bp.get("/<int:report_id>/<name>")
@requires(Permission.AGGREGATE_READ)
def download(report_id: int, name: str) -> Response:
    """One of the latest generation's files (audited)."""
    if name not in _FILES:
        raise NotFound()
    session = get_session()
    report = _report(report_id)
    generation = latest_generation(session, report)
    if generation is None:
        raise NotFound()
    meta, tables = stored(generation)
    body = (
        xlsx_bytes(meta, tables)
        if name == XLSX_NAME
        else pdf_bytes(meta, tables, resume=name == PDF_RESUME)
    )
    record(
        session, _actor(), ReportAction.DOWNLOAD, report, file=name,
        generation=generation.audit_ref, purpose=meta.purpose,
    )
    session.commit()
    response = Response(body, mimetype=_FILES[name])
    filename = f"{report.protocol_key}-{report.number}-{name}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/dashboard")
@requires(Permission.AGGREGATE_READ)
def dashboard() -> str:
    """Aggregate views of each protocol in force, with charts."""
    session = get_session()
    version = current_version(session)
    if version is None:
        return render_template("reports/dashboard.html", board=None, charts={})
    definition = loaded(version).definition
    board = build(
        session,
        _actor(),
        definition,
        _today(),
        settings.threshold(session),
        current_app.config.get("TIMEZONE") or "Europe/Paris",
    )
    session.commit()
    charts = {}
    for key in ("inclusions", "status", "events", "completeness"):
        table = getattr(board, key)
        texts = [row[0] for row in table.rows_text()]
        shown = len(texts) - 1  # the total is in the table, not in the chart
        charts[key] = bar_chart(
            f"chart-{key}", table.title, table.row_labels[:shown], texts[:shown]
        )
    return render_template(
        "reports/dashboard.html", board=board, charts=charts, protocol=definition
    )


# --- the published résumés, for anyone (PUT-13) -------------------------------------------------
# Linked from the notice pages: like them, no login, no cookie (no session write, no flash), the
# language from ?lang=. Only approved résumés, as their latest generation shows them: the
# cumulative tables with the suppression applied, nothing else.


def _published(report_id: int) -> tuple[SummaryReport, Any]:
    report = get_session().get(SummaryReport, report_id)
    if report is None or report.resume_approved_on is None:
        raise NotFound(_("No approved résumé has this number."))
    generation = latest_generation(get_session(), report)
    if generation is None:
        raise NotFound(_("No approved résumé has this number."))
    return report, generation


@bp.get("/resumes")
@public
def resumes() -> str:
    """The approved résumés of the periodic summary reports, newest first."""
    session = get_session()
    rows = []
    for report in approved_reports(session):
        generation = latest_generation(session, report)
        if generation is not None:
            rows.append((report, stored(generation)[0]))
    lang = request.args.get("lang")
    return render_template(
        "reports/resumes.html", rows=rows, lang=lang if lang in ("fr", "en") else None
    )


#: downloads of a published résumé per address: each one builds a PDF and writes an audit
#: entry, so an anonymous loop must not be able to load the server or swell the trail
RESUME_DOWNLOAD_LIMIT = "30 per hour"


@bp.get("/resumes/<int:report_id>/resume.pdf")
@public
@limiter.limit(RESUME_DOWNLOAD_LIMIT)
def resume_file(report_id: int) -> Response:
    """The PDF of an approved résumé (audited, as every download of a report file)."""
    session = get_session()
    report, generation = _published(report_id)
    meta, tables = stored(generation)
    body = pdf_bytes(meta, tables, resume=True)
    record(
        session, None, ReportAction.DOWNLOAD, report, file=PDF_RESUME,
        generation=generation.audit_ref, purpose=meta.purpose, published=1,
    )
    session.commit()
    response = Response(body, mimetype="application/pdf")
    filename = f"{report.protocol_key}-{report.number}-{PDF_RESUME}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
