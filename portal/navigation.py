"""Menu and footer entries, shown only to those who hold their permission."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_request_context, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from portal.permissions import Permission, granted_permissions


@dataclass(frozen=True)
class NavEntry:
    """A link in the main menu or the footer."""

    endpoint: str
    label: Any  # a lazy translated string
    permission: Permission | None = None  # None: shown to everyone


@dataclass(frozen=True)
class ShownEntry:
    url: str
    label: str
    current: bool


def add_menu_entry(app: Flask, entry: NavEntry) -> None:
    """Add a link to the main menu."""
    app.extensions.setdefault("portal.nav", []).append(entry)


def add_home_panel(app: Flask, permission: Permission, render: Callable[[], Any]) -> None:
    """Show a panel on the home page to those who hold `permission` (e.g. the DPO's breach
    clocks): `render` returns its HTML, or None to show nothing."""
    app.extensions.setdefault("portal.home_panels", []).append((permission, render))


def home_panels() -> list[Any]:
    """Return the HTML of the home-page panels the current person may see."""
    held = granted_permissions()
    shown = []
    for permission, render in current_app.extensions.get("portal.home_panels", []):
        if permission in held:
            html = render()
            if html:
                shown.append(html)
    return shown


def add_footer_entry(app: Flask, entry: NavEntry) -> None:
    """Add a link to the footer of every page."""
    app.extensions.setdefault("portal.footer", []).append(entry)


#: URLs kept per process: only those that depend on nothing but the endpoint (and a static
#: file's name), at most this many
_URL_CACHE_SIZE = 512


def page_url(endpoint: str, **values: Any) -> str:
    """`url_for`, remembering within the process the URLs without arguments (the menu, the
    layout's links) and those of static files.

    Such a URL depends only on the URL map, fixed once the app is built (the portal registers
    no `url_defaults`), and on the request's script root, which is part of the key. Anything
    else (arguments, `_external`, a blueprint-relative endpoint) is built at each call.
    """
    static = endpoint == "static" or endpoint.endswith(".static")
    if (not has_request_context() or endpoint.startswith(".")
            or (values and not (static and list(values) == ["filename"]))):
        return url_for(endpoint, **values)
    cache: dict[tuple[str, str, str], str] = current_app.extensions.setdefault(
        "portal.url_cache", {})
    key = (request.script_root, endpoint, str(values.get("filename", "")))
    found = cache.get(key)
    if found is None:
        found = url_for(endpoint, **values)
        if len(cache) < _URL_CACHE_SIZE:
            cache[key] = found
    return found


def _shown(key: str) -> list[ShownEntry]:
    held = granted_permissions()
    shown = []
    for entry in current_app.extensions.get(key, []):
        if entry.permission is None or entry.permission in held:
            shown.append(
                ShownEntry(page_url(entry.endpoint), str(entry.label),
                           request.endpoint == entry.endpoint)
            )
    return shown


#: the words of the layout around every page (templates/base.html)
CHROME = {
    "portal": _l("AAC Portal"),
    "skip": _l("Skip to main content"),
    "main_menu": _l("Main menu"),
    "language": _l("Language"),
    "log_out": _l("Log out"),
    "log_in": _l("Log in"),
    "cookie": _l("Only one cookie is used: the session cookie that keeps you logged in. "
                 "No tracking."),
}


def chrome() -> dict[str, str]:
    """The layout's words in the page's language, translated once per language and process
    rather than at every page (the catalogues are loaded once per process anyway)."""
    locale = str(get_locale())
    translated = current_app.extensions.setdefault("portal.chrome", {})
    found = translated.get(locale)
    if found is None:
        found = translated[locale] = {key: str(text) for key, text in CHROME.items()}
    return found


def init_app(app: Flask) -> None:
    """Expose nav_items(), footer_items(), language_url() and chrome() to templates."""

    def language_url(code: str) -> str:
        return url_for("home.set_language", code=code, next=request.full_path.rstrip("?"))

    helpers: dict[str, Callable[..., Any]] = {
        "nav_items": lambda: _shown("portal.nav"),
        "footer_items": lambda: _shown("portal.footer"),
        "language_url": language_url,
        "chrome": chrome,
        "home_panels": home_panels,
    }
    app.context_processor(lambda: helpers)
    app.jinja_env.globals["url_for"] = page_url
