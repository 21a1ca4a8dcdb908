"""Language choice (French first, English available), and how times and numbers are shown.

Stored times are UTC; people read them in the portal's zone (PORTAL_TIMEZONE) with the zone
named, through one filter, `local_time`. Numbers are written the way the page's language
writes them (`64,5` in French), through `local_number`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from flask import Flask, current_app, g, has_app_context, has_request_context, request, session
from flask_babel import get_locale, get_translations
from flask_login import current_user

from portal.config import DEFAULT_TIMEZONE

LANGUAGES = {"fr": "Français", "en": "English"}
DEFAULT = "fr"


def select_locale() -> str:
    """Pick the language: explicit ?lang=, then the person's preference, then the browser."""
    if not has_request_context():
        return DEFAULT  # CLI and jobs: French unless the caller forces a locale
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    preference = getattr(current_user, "locale", None) if _has_user() else None
    if preference in LANGUAGES:
        return preference
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    fallback = current_app.config.get("BABEL_DEFAULT_LOCALE", DEFAULT)
    return request.accept_languages.best_match(list(LANGUAGES), default=fallback) or fallback


def _has_user() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # noqa: BLE001 - no login manager yet: no preference
        return False


def page_language() -> str:
    """The language of the current page ("fr" outside a request)."""
    locale = get_locale() if has_request_context() else None
    language = getattr(locale, "language", None)
    return language if language in LANGUAGES else DEFAULT


def local_zone() -> ZoneInfo:
    """The portal's zone for people-facing times (PORTAL_TIMEZONE)."""
    name = current_app.config.get("TIMEZONE") if has_app_context() else None
    return ZoneInfo(name or DEFAULT_TIMEZONE)


#: style → (babel date format, babel time format or None for a date alone)
TIME_STYLES = {
    "datetime": ("medium", "short"),
    "seconds": ("medium", "medium"),
    "date": ("medium", None),
    "long_date": ("long", None),
}


def local_time(moment: datetime | date | None, style: str = "datetime",
               language: str | None = None) -> str:
    """Show a stored time in the portal's zone, in the page's language, with the zone named.

    `style` is "datetime" (3 déc. 2026, 14:05 CET), "seconds" (the same with seconds),
    "date" (3 déc. 2026) or "long_date" (3 décembre 2026): a date is the local day of the
    time. A `date` value (a due date, a day of treatment) is shown as it is.
    """
    if moment is None or moment == "":
        return ""
    date_format, time_format = TIME_STYLES[style]
    language = language or page_language()
    if not isinstance(moment, datetime):
        return format_date(moment, date_format, locale=language)
    zone = local_zone()
    # Stored times are UTC; a naive one can only be UTC that lost its zone on the way.
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    day = format_date(local.date(), date_format, locale=language)
    if time_format is None:
        return day
    hour = format_time(local, time_format, tzinfo=zone, locale=language)
    both = Locale.parse(language).datetime_formats["medium"].format(hour, day)
    return f"{both} {local.tzname()}"


def local_number(value: Any, language: str | None = None) -> str:
    """Write a number as the page's language does, keeping every digit that was stored.

    "64.50" is "64,50" in French and "64.50" in English. Thousands are not grouped: a dose
    of 1234.5 stays one word that reads the same in both languages but for its separator.
    Text that is not a number is returned unchanged.
    """
    if value is None or value == "" or isinstance(value, bool):
        return "" if value is None else str(value)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    pattern = "0" + ("." + "0" * places if places else "")
    return format_decimal(number, format=pattern, locale=language or page_language(),
                          decimal_quantization=False)


_CATALOGUE = "_portal_catalogue"


def _catalogue() -> Any:
    """The catalogue of the current locale, looked up once per locale within an app context.

    Flask-Babel looks the domain, the context and the locale's name up again at every string
    of a template (a page has dozens). The locale object is the key: `force_locale` and
    `refresh` put another one in place, which makes this look the catalogue up again.
    """
    if not has_app_context():
        return get_translations()
    # One look through the proxy rather than one per attribute.
    here = g._get_current_object()
    state = getattr(here, "_flask_babel", None)
    locale = getattr(state, "babel_locale", None)
    memo = getattr(here, _CATALOGUE, None)
    if locale is not None and memo is not None and memo[0] is locale:
        return memo[1]
    translations = get_translations()
    state = getattr(here, "_flask_babel", None)
    setattr(here, _CATALOGUE, (getattr(state, "babel_locale", None), translations))
    return translations


def _install_template_gettext(app: Flask) -> None:
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _catalogue().ugettext(s),
        ngettext=lambda s, p, n: _catalogue().ungettext(s, p, n),
        pgettext=lambda c, s: _catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: _catalogue().unpgettext(c, s, p, n),
        newstyle=True,
    )


def init_app(app: Flask) -> None:
    """Expose the language list and the time and number filters to templates."""
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(local_number, "local_number")
    _install_template_gettext(app)

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"LANGUAGES": LANGUAGES, "get_locale": get_locale}
