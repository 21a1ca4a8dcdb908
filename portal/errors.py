"""One error path: domain exceptions and HTTP errors become localised pages."""

from __future__ import annotations

import logging
import secrets

from flask import Flask, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class PortalError(Exception):
    """An expected failure shown to the user as an error page with `status`."""

    status = 400

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message: str = message or ""


class BadRequest(PortalError):
    status = 400


class Unauthenticated(PortalError):
    status = 401


class Forbidden(PortalError):
    status = 403


class NotFound(PortalError):
    status = 404


class Conflict(PortalError):
    status = 409


class RateLimited(PortalError):
    status = 429


TITLES = {
    400: _l("The request could not be understood"),
    401: _l("Please log in"),
    403: _l("Access refused"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    409: _l("Conflict"),
    413: _l("Request too large"),
    429: _l("Too many attempts"),
    500: _l("Internal error"),
    503: _l("Service unavailable"),
}
EXPLANATIONS = {
    400: _l("The form or address sent is not valid. Go back and try again."),
    401: _l("You need to log in to see this page."),
    403: _l("You do not have the right to see this page or do this action."),
    404: _l("This page does not exist or is no longer available."),
    405: _l("This address does not accept this kind of request."),
    409: _l("Someone else changed this item at the same time. Nothing was lost: reload and "
            "try again."),
    413: _l("What you sent is larger than the portal accepts."),
    429: _l("Too many attempts in a short time. Wait a few minutes and try again."),
    500: _l("An unexpected error occurred. Nothing was saved from this request. The team has "
            "been told."),
    503: _l("The portal is temporarily unavailable. Try again in a few minutes."),
}


def new_reference() -> str:
    """Return a fresh error reference: random, so it reveals nothing and cannot be guessed."""
    return secrets.token_hex(6)


def _log_error(status: int, reference: str) -> None:
    """Write the one log line that carries `reference`, the page's only link to the details.

    A 5xx is the operator's to fix and goes out as an error with whatever exception is being
    handled; a 4xx is the visitor's and goes out as info, there for someone who asks about it.
    """
    where = f"{request.method} {request.path}"
    if status >= 500:
        log.error("error %s ref=%s on %s", status, reference, where, exc_info=True)
    else:
        log.info("error %s ref=%s on %s", status, reference, where)


def render_error(status: int, message: str | None = None) -> tuple[str, int]:
    """Render the error page for `status`, with an optional specific message.

    The page shows a reference the operator finds in the log line of this error; the user
    sees no detail of what went wrong.
    """
    known = status if status in TITLES else (500 if status >= 500 else 400)
    reference = new_reference()
    _log_error(status, reference)
    try:
        body = render_template(
            "errors/error.html",
            status=status,
            title=TITLES[known],
            explanation=message or EXPLANATIONS[known],
            reference=reference,
        )
    except Exception:  # noqa: BLE001 - the error page itself failed: answer without a template
        log.exception("error page %s could not be rendered", status)
        body = (f"<!doctype html><title>{status}</title><h1>{status}</h1>"
                f"<p>Ref. {reference}</p>")
    return body, status


def init_app(app: Flask) -> None:
    """Register the handlers; a 500 rolls the request's transaction back before rendering."""

    @app.errorhandler(PortalError)
    def _portal_error(exc: PortalError):  # noqa: ANN202
        return render_error(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        status = exc.code or 500
        response = exc.get_response()
        body, status = render_error(status)
        response.set_data(body)
        response.status_code = status
        response.content_type = "text/html; charset=utf-8"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        from portal.db import discard_request_session

        discard_request_session()
        # The user loaded for this request belongs to the discarded session: forget it so
        # that the error page renders without touching a detached object.
        from flask import g

        g.pop("_login_user", None)
        forget = current_app.extensions.get("portal.forget_request_state")
        if forget is not None:
            forget()
        return render_error(500)
