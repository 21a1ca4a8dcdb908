"""One error path: domain exceptions and HTTP errors become localised pages."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, current_app, g, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

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


#: what a person is told when a service the portal depends on does not answer (503)
OUTAGE_MESSAGES = {
    "database": _l("The portal cannot reach its database at the moment. Try again in a "
                   "minute: the portal comes back by itself."),
    "database_not_saved": _l("The portal could not reach its database: nothing of what you "
                             "sent was saved. Send it again in a minute."),
    "database_maybe_saved": _l("The database stopped answering while what you sent was being "
                               "saved: it may or may not have been saved. Send it again in a "
                               "minute: if it was saved, the portal recognises it, does not "
                               "store it twice and tells you so."),
    "limits": _l("Logging in is unavailable for a few minutes: the portal cannot count login "
                 "attempts at the moment, and lets nobody in without that check. People "
                 "already logged in are not affected. Try again in a few minutes."),
}
#: the resend button of an outage page
RESEND = {
    "intro": _l("What you typed is kept in this page: once the portal answers again, this "
                "button sends it again, as it was."),
    "button": _l("Send again"),
}
#: seconds a client is asked to wait (Retry-After) after a database or rate-limit outage
RETRY_AFTER = {"database": 30, "limits": 60}


def database_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean the database does not answer (`portal.db.DATABASE_UNAVAILABLE`)."""
    from portal.db import DATABASE_UNAVAILABLE

    return DATABASE_UNAVAILABLE


def outage_of(exc: BaseException | None) -> str | None:
    """"database" or "limits" when `exc` (or what it wraps) is an outage, else None."""
    from portal.rate_limits import unreachable_errors

    # What an error raised while handling another one leads back to: the wrapped original
    # (a 500 met after the view), the cause, or the error being handled when it was raised
    # (a refusal whose audit commit found the session broken by the outage).
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, database_errors()):
            return "database"
        if isinstance(exc, unreachable_errors()):
            return "limits"
        exc = (getattr(exc, "original_exception", None) or exc.__cause__
               or exc.__context__)
        seen += 1
    return None


def resend_on_outage(app: Flask, *endpoints: str) -> None:
    """Let the outage page of a POST to `endpoints` carry the posted fields back (idempotent
    forms only: sent twice, they are stored once)."""
    app.extensions.setdefault("portal.resendable", set()).update(endpoints)


def new_reference() -> str:
    """Return a fresh error reference: random, so it reveals nothing and cannot be guessed."""
    return secrets.token_hex(6)


def _log_error(status: int, reference: str, outage: str | None = None) -> None:
    """Write the one log line that carries `reference`, the page's only link to the details.

    A 5xx is the operator's to fix and goes out as an error with whatever exception is being
    handled; a 4xx is the visitor's and goes out as info, there for someone who asks about it.
    An outage goes out as a warning naming the service, without a traceback per request.
    """
    where = f"{request.method} {request.path}"
    if outage is not None:
        log.warning("error %s ref=%s on %s: %s unavailable", status, reference, where, outage)
    elif status >= 500:
        log.error("error %s ref=%s on %s", status, reference, where, exc_info=True)
    else:
        log.info("error %s ref=%s on %s", status, reference, where)


def render_error(status: int, message: str | None = None, *, outage: str | None = None,
                 resend: list[tuple[str, str]] | None = None) -> tuple[str, int]:
    """Render the error page for `status`, with an optional specific message.

    The page shows a reference the operator finds in the log line of this error; the user
    sees no detail of what went wrong. `resend`: the fields of a POST the page offers to send
    again.
    """
    known = status if status in TITLES else (500 if status >= 500 else 400)
    reference = new_reference()
    _log_error(status, reference, outage)
    try:
        body = render_template(
            "errors/error.html",
            status=status,
            title=TITLES[known],
            explanation=message or EXPLANATIONS[known],
            reference=reference,
            resend=resend,
            resend_words=RESEND,
        )
    except Exception:  # noqa: BLE001 - the error page itself failed: answer without a template
        log.exception("error page %s could not be rendered", status)
        body = (f"<!doctype html><title>{status}</title><h1>{status}</h1>"
                f"<p>Ref. {reference}</p>")
    return body, status


def _without_database() -> None:
    """Drop the request's session and user, so that the page renders without the database."""
    from flask_login import AnonymousUserMixin

    from portal.db import discard_request_session

    discard_request_session()
    g.portal_without_database = True
    g._login_user = AnonymousUserMixin()


def render_outage(outage: str) -> Response:
    """The 503 page of an outage ("database" or "limits"), with Retry-After.

    After a POST it says whether anything may have been stored, and the page of an idempotent
    form carries the posted fields in a "Send again" button, so that nothing typed is lost.
    """
    from portal.db import write_commit_started

    resend = None
    if outage == "database":
        maybe_saved = write_commit_started()
        _without_database()
        if request.method == "POST":
            key = "database_maybe_saved" if maybe_saved else "database_not_saved"
            if request.endpoint in current_app.extensions.get("portal.resendable", ()):
                resend = list(request.form.items(multi=True))
        else:
            key = "database"
    else:
        key = "limits"
        _without_database()
    body, status = render_error(503, str(OUTAGE_MESSAGES[key]), outage=outage, resend=resend)
    response = current_app.make_response((body, status))
    response.headers["Retry-After"] = str(RETRY_AFTER[outage])
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the handlers; a 500 rolls the request's transaction back before rendering."""

    def _outage(exc: Exception) -> Any:
        outage = outage_of(exc)
        assert outage is not None  # registered for these exceptions only
        return render_outage(outage)

    from portal.rate_limits import unreachable_errors

    for kind in (*database_errors(), *unreachable_errors()):
        app.register_error_handler(kind, _outage)

    @app.errorhandler(PortalError)
    def _portal_error(exc: PortalError):  # noqa: ANN202
        return render_error(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        # An outage met after the view (a limit counted in after_request) arrives wrapped.
        outage = outage_of(exc) if (exc.code or 500) == 500 else None
        if outage is not None:
            return render_outage(outage)
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

        if outage_of(exc) is not None:
            return render_outage(str(outage_of(exc)))

        discard_request_session()
        # The user loaded for this request belongs to the discarded session: forget it so
        # that the error page renders without touching a detached object.
        from flask import g

        g.pop("_login_user", None)
        forget = current_app.extensions.get("portal.forget_request_state")
        if forget is not None:
            forget()
        return render_error(500)
