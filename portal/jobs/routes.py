"""The administrators' page of the job runner: each duty, whether it is late, the last runs."""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.db import get_session
from portal.jobs import services
from portal.permissions import Permission, requires

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("/")
@requires(Permission.JOBS_READ)
def jobs() -> str:
    """The duties with their state, then the newest runs."""
    session = get_session()
    return render_template("jobs/jobs.html", duties=services.status(session),
                           runs=services.recent_runs(session))
