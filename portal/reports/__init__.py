"""Periodic summary reports of a protocol (PUT-10 to PUT-13): calendar, dataset, outputs.

Public face: `final_resume_approval_date(session, protocol_key)` gives the day ANSM approved
the résumé of a protocol's final report (the retention trigger), None until then.
"""

from __future__ import annotations

from flask import Flask

from portal.reports.calendar import final_resume_approval_date, reports_of

__all__ = ["final_resume_approval_date", "init_app", "reports_of"]


def init_app(app: Flask) -> None:
    """Register the report tables, settings, pages, menu entry and `portal report` commands."""
    from flask_babel import lazy_gettext as _l

    from portal.navigation import NavEntry, add_menu_entry
    from portal.permissions import Permission
    from portal.reports import (
        models,  # noqa: F401 - tables on the metadata
        settings,
    )
    from portal.reports.cli import report_cli
    from portal.reports.routes import bp

    settings.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(report_cli)
    add_menu_entry(app, NavEntry("reports.calendar", _l("Reports"), Permission.AGGREGATE_READ))
