"""Accountability registers (GDPR articles 30, 33-35; REC-01 to REC-09), kept by the DPO."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages, the menu entry, the home panels (the DPO's clocks, a prescriber's
    breach letters), the CLI, and the links to the notices (transfers), the audit checks (draft
    breaches), the protocols (no version in force beyond the approved DPIA) and the exports
    (research only under a formality in force)."""
    from flask_babel import lazy_gettext as _l

    from portal.accounts.origins import use_transfer_mechanisms
    from portal.audit.checks import on_new_alert
    from portal.export_purposes import use_research_register
    from portal.navigation import NavEntry, add_footer_entry, add_home_panel
    from portal.notices.transfers import use_transfer_register
    from portal.permissions import Permission
    from portal.protocols.services import before_in_force
    from portal.registers import models  # noqa: F401 - the tables on the metadata
    from portal.registers.cli import register_cli
    from portal.registers.routes import bp, home_panel, letters_panel
    from portal.registers.services import (
        check_protocol_release,
        draft_from_alert,
        research_covers_in_force,
        transfer_mechanisms,
        transfer_rows,
    )

    app.register_blueprint(bp)
    app.cli.add_command(register_cli)
    # In the footer with retention and backups (the DPO's header has no room left at 1280 px,
    # tests/browser/test_layout.py); the DPO's home page shows the breach clock.
    add_footer_entry(app, NavEntry("registers.index", _l("Registers"),
                                   Permission.REGISTER_MANAGE))
    add_home_panel(app, Permission.REGISTER_MANAGE, home_panel)
    add_home_panel(app, Permission.PATIENT_READ, letters_panel)
    use_transfer_register(app, transfer_rows)
    # Research exports are checked against the formalities the DPO records here (5.4).
    use_research_register(app, research_covers_in_force)
    # Remote access from outside the EU counts only with its mechanism recorded (12.4).
    use_transfer_mechanisms(app, transfer_mechanisms)
    on_new_alert(app, draft_from_alert)
    before_in_force(app, check_protocol_release)
