"""The records blueprint, who is acting, and the two error pages that keep their audit entries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from portal.db import get_session
from portal.errors import Forbidden, render_error
from portal.records.integrity import RecordIntegrityError

bp = Blueprint("records", __name__, static_folder="static", static_url_path="/records-static")


def current_actor() -> Any:
    """The logged-in person (the authorizer let only a full session through)."""
    from portal.accounts.sessions import load_state

    user = load_state().user
    if user is None:
        raise Forbidden()
    return user


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden) -> tuple[str, int]:
    # A refusal met by the records policy was logged in the request's session: keep it.
    get_session().commit()
    return render_error(403, exc.message)


@bp.errorhandler(RecordIntegrityError)
def _integrity(exc: RecordIntegrityError) -> tuple[str, int]:
    # The DPO alert and the audit entry were added to the request's session: keep them.
    get_session().commit()
    return render_template("records/integrity.html", target=exc.target), 500
