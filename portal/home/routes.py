"""Home page, language switch and health check."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, session

from portal.db import get_session
from portal.i18n import LANGUAGES
from portal.permissions import public
from portal.security import safe_next_url

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def home() -> str:
    """Show what the portal is for, and the way in."""
    return render_template("home/home.html")


@bp.get("/language/<code>")
@public
def set_language(code: str) -> Response:
    """Remember the chosen language and go back where the person was."""
    if code in LANGUAGES:
        session["lang"] = code
    target = safe_next_url(request.args.get("next"), "/")
    return redirect(target)  # type: ignore[return-value]


@bp.get("/healthz")
@public
def healthz() -> tuple[str, int, dict[str, str]]:
    """Answer 200 when the database answers, 503 otherwise; no personal data.

    An unreachable rate-limit storage (Redis) is named on a second line but keeps the status
    200: only logins are refused meanwhile, and a load balancer must not take every server out
    for that.
    """
    from flask import current_app

    from portal.home.services import database_answers
    from portal.rate_limits import storage_answers

    ok = database_answers(get_session())
    lines = ["ok" if ok else "database unavailable"]
    if storage_answers(current_app) is False:
        lines.append("rate-limit storage unavailable: logins refused")
    headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    if not ok:
        headers["Retry-After"] = "30"
    return "".join(f"{line}\n" for line in lines), (200 if ok else 503), headers
