"""Roles, establishments, time-limited access grants and their review (section 8, SEC-HAB)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire lazy expiry, the admin pages, the `access` CLI and the menu entries."""
    from flask_babel import lazy_gettext as _l

    from portal.access import hooks
    from portal.access.cli import access_cli
    from portal.access.routes import bp
    from portal.access.services import grant_periods
    from portal.audit.lookups import register_grant_history
    from portal.navigation import NavEntry, add_menu_entry
    from portal.permissions import Permission

    hooks.init_app(app)
    register_grant_history(app, grant_periods)
    app.register_blueprint(bp)
    app.cli.add_command(access_cli)
    add_menu_entry(app, NavEntry("access.people", _l("Access grants"), Permission.GRANT_ADMIN))
    add_menu_entry(app, NavEntry("access.establishments", _l("Establishments"),
                                 Permission.GRANT_ADMIN))
    add_menu_entry(app, NavEntry("access.review", _l("Annual review"), Permission.GRANT_REVIEW))
