"""Language choice: French first, English available."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

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


def init_app(app: Flask) -> None:
    """Expose the language list to templates."""

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"LANGUAGES": LANGUAGES, "get_locale": get_locale}
