"""The backups page of the DPO and the administrators: files, sizes, verification results."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from portal.audit.services import record
from portal.backups import services
from portal.backups.actions import BackupAction
from portal.backups.settings import max_backup_age_days
from portal.db import get_session
from portal.permissions import Permission, requires

bp = Blueprint("backups", __name__, url_prefix="/backups")


@bp.get("/")
@requires(Permission.BACKUP_READ)
def backups() -> str:
    """The last backups, newest first, with the monitoring status and the rotation."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session = get_session()
    runs = services.list_runs(session, limit=50)
    status = services.verification_status(
        session, timedelta(hours=int(app.config["BACKUP_VERIFIED_MAX_AGE_HOURS"]))
    )
    record(
        session,
        current_user._get_current_object(),
        BackupAction.BACKUPS_READ,
        shown=len(runs),
    )
    session.commit()
    return render_template(
        "backups/backups.html",
        runs=runs,
        status=status,
        max_age_days=max_backup_age_days(app),
        keep=(
            app.config["BACKUP_KEEP_DAILY"],
            app.config["BACKUP_KEEP_WEEKLY"],
            app.config["BACKUP_KEEP_MONTHLY"],
        ),
    )
