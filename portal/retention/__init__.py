"""Retention (referential section 9): active base, intermediate archive, then purge."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Check the settings (an archive over 70 years refuses to start), register CLI and pages."""
    from flask_babel import lazy_gettext as _l

    from portal.audit.lookups import register_case_naming
    from portal.navigation import NavEntry, add_footer_entry, add_menu_entry
    from portal.permissions import Permission
    from portal.retention import (
        models,  # noqa: F401 - the tables on the metadata
        services,
        settings,
    )
    from portal.retention.cli import retention_cli
    from portal.retention.routes import bp

    settings.init_app(app)
    app.register_blueprint(bp)
    register_case_naming(app, services.case_states_of)
    app.cli.add_command(retention_cli)
    # In the footer, beside the backups: the DPO's header has no room left at 1280 px
    # (tests/browser/test_layout.py).
    add_footer_entry(app, NavEntry("retention.overview", _l("Retention"),
                                   Permission.RETENTION_OVERSEE))
    add_menu_entry(app, NavEntry("retention.archive_read", _l("Archive"),
                                 Permission.ARCHIVE_READ))
    add_footer_entry(app, NavEntry("retention.aac_decision", _l("AAC decisions"),
                                   Permission.AAC_RECORD))
