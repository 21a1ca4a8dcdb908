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
    """Answer 200 when the database answers, 503 otherwise; no personal data."""
    from portal.home.services import database_answers

    ok = database_answers(get_session())
    return ("ok\n" if ok else "database unavailable\n"), (200 if ok else 503), {
        "Content-Type": "text/plain; charset=utf-8"
    }
