"""The tamper-evident audit trail that every area writes to (SEC-JOU).

- services.record(): one entry per action, in the caller's transaction, HMAC-chained;
- verify.verify() / `portal audit verify [--head FILE]`: the first broken entry, if any, also
  against the newest anchor;
- anchor: the chain head, signed, kept outside the database by `check`, `purge` and `head`;
- purge.purge() / `portal audit purge`: retention of 183 to 365 days, behind a checkpoint;
- checks.run_checks() / `portal audit check [--status]`: the anomaly rules (rules.py);
- routes: the trail and the alerts for the auditors and the DPO (every reading logged);
- ddl: the database triggers that refuse any change to audit rows and any rewind of the head.

Operations schedule these daily: `portal audit check` and `portal audit purge` (each anchors the
head in AUDIT_ANCHOR_DIR and/or mails it to AUDIT_ANCHOR_MAIL); a monitor runs
`portal audit check --status`, which exits 1 when the last successful check is over 60 days old,
and `portal audit verify`.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l


def init_app(app: Flask) -> None:
    """Register the audit pages, the `portal audit` commands, the menu entry and the settings."""
    from portal.audit import settings
    from portal.audit.cli import audit_cli
    from portal.audit.routes import bp
    from portal.navigation import NavEntry, add_menu_entry
    from portal.permissions import Permission

    settings.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(audit_cli)
    add_menu_entry(app, NavEntry("audit.events", _l("Audit trail"), Permission.AUDIT_READ))
