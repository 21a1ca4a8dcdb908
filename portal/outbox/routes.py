"""The administrators' outbox page: how many messages wait, and every failure."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from portal.audit.services import record
from portal.db import get_session
from portal.outbox import services
from portal.outbox.actions import OutboxAction
from portal.permissions import Permission, requires

bp = Blueprint("outbox", __name__, url_prefix="/outbox")


@bp.get("/")
@requires(Permission.OUTBOX_READ)
def messages() -> str:
    """Counts by state, then the given-up messages and those waiting after a failure."""
    session = get_session()
    state = services.status(session)
    failures = services.problems(session)
    record(session, current_user._get_current_object(),
           OutboxAction.OUTBOX_READ, shown=len(failures))
    session.commit()
    return render_template("outbox/messages.html", state=state, failures=failures)
