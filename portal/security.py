"""Response headers every page carries, safe redirects, and the ids a URL may hold."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from itsdangerous import URLSafeTimedSerializer
from werkzeug.routing import IntegerConverter

from portal.errors import BadRequest

CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"


def safe_next_url(target: str | None, fallback: str) -> str:
    """Return `target` when it is a local path on this site, else `fallback`."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target:
        return fallback
    return target


#: the largest row id (the id columns are 32-bit integers on PostgreSQL)
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:...>` in a route: a row id, so 1 to MAX_ROW_ID; anything else is a 404.

    Without a bound, /grants/99999999999999999999 reaches the database and fails there (an
    integer overflow) with a 500 instead of "not found".
    """

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = 1,  # noqa: A002
                 max: int | None = MAX_ROW_ID, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its signer built once per key rather than twice a
    request (reading and writing the cookie); a changed key or fallback list builds a new one."""

    _signer: tuple[Any, URLSafeTimedSerializer | None] = ((), None)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached_keys, signer = self._signer
        if cached_keys == keys and signer is not None:
            return signer
        signer = super().get_signing_serializer(app)
        self._signer = (keys, signer)
        return signer


def _holds_nul(values: Any) -> bool:
    return any("\x00" in value for _key, value in values.items(multi=True))


def init_app(app: Flask) -> None:
    """Add the security baseline to every response; bound the ids routes accept.

    Runs before the areas register their routes: the converter is looked up then.
    """
    app.url_map.converters["int"] = RowIdConverter
    app.session_interface = SessionCookies()

    @app.before_request
    def _refuse_nul() -> None:
        # No page takes a NUL character, and PostgreSQL refuses it in any text (a 500 there).
        if "\x00" in request.path or _holds_nul(request.args) or (
                request.method == "POST" and _holds_nul(request.form)):
            raise BadRequest()

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if getattr(current_user, "is_authenticated", False):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response
