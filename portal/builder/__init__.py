"""The form builder (issue 20): protocol managers start, edit, check, preview, compare and
approve protocol definitions in the browser.

The pages only call `portal.protocols.drafts` (the services the CLI's loader, linter,
importers and install share); the paper preview comes through the records' public face.
Drafts are for protocol managers only (`protocols:protocol:manage`): prescribers never see them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the builder's pages, its script and the menu entry."""
    from flask_babel import lazy_gettext as _l

    from portal.builder import structure_routes  # noqa: F401 - the structured editor's views
    from portal.builder.routes import bp
    from portal.navigation import NavEntry, add_menu_entry
    from portal.permissions import Permission, public

    app.register_blueprint(bp)
    # The blueprint's static files are the editor's own script and stylesheet: no data.
    app.view_functions["builder.static"] = public(_static_view(bp.send_static_file))
    add_menu_entry(app, NavEntry("builder.drafts_list", _l("Form builder"),
                                 Permission.PROTOCOL_MANAGE))


def _static_view(send: Callable[[str], Any]) -> Callable[[str], Any]:
    def static(filename: str) -> Any:
        return send(filename)

    return static
