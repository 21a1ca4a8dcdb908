"""Fixtures for the protocol tests: data paths, the demo, a small Flask app with Flask-Babel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask, request
from flask_babel import Babel

from portal.protocols.loader import LoadedProtocol, load_path

from .support import DEMO, FRENCH


@pytest.fixture(scope="session")
def demo() -> LoadedProtocol:
    """The demo PUT-SP, loaded through the loader (so it passed every rule)."""
    return load_path(DEMO)


@pytest.fixture
def babel_app(tmp_path: Path) -> Iterator[Flask]:
    """A Flask app with Flask-Babel, a French catalogue, and `?lang=` to choose the locale."""
    catalog = Catalog(locale="fr")
    for msgid, msgstr in FRENCH.items():
        catalog.add(msgid, msgstr)
    directory = tmp_path / "translations" / "fr" / "LC_MESSAGES"
    directory.mkdir(parents=True)
    with open(directory / "messages.mo", "wb") as handle:
        write_mo(handle, catalog)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test",  # noqa: S105 - a test app
        WTF_CSRF_ENABLED=False,
        BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "translations"),
        BABEL_DEFAULT_LOCALE="fr",
    )
    Babel(app, locale_selector=lambda: request.args.get("lang", "fr"))
    yield app
