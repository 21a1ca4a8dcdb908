"""Information notices (referential section 10): public pages, the DPO's editor, first login."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from portal.navigation import NavEntry, add_footer_entry, add_menu_entry
from portal.permissions import Permission


def init_app(app: Flask) -> None:
    """Register the blueprint, the footer and menu links, and the first-login gate."""
    from portal.notices import gate, models, rendering  # noqa: F401 - tables on the metadata
    from portal.notices.routes import bp

    app.register_blueprint(bp)
    rendering.init_app(app)
    add_footer_entry(app, NavEntry("notices.index", _l("Information notices"), None))
    add_menu_entry(app, NavEntry("notices.manage", _l("Notices"), Permission.NOTICE_MANAGE))
    gate.install(app)
