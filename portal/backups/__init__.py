"""Encrypted backups, their verification and restore drills (SEC-SAU, SEC-CRY-1g).

- services: `create_backup` (a consistent snapshot sealed under the backup key, copied off the
  host), `verify_backup` (authenticate, restore into a scratch database, check), `restore_backup`
  (into an empty database only), `prune` (7 daily / 4 weekly / 12 monthly by default);
- cli: `portal backup create|verify|restore|prune|list`;
- routes: the page of the DPO and the administrators: the last backups and their verification.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from portal.backups.settings import max_backup_age_days

__all__ = ["init_app", "max_backup_age_days"]


def init_app(app: Flask) -> None:
    """Register the backups page, the `portal backup` commands, the footer link, the settings."""
    from portal.backups import models, settings  # noqa: F401 - tables on the metadata
    from portal.backups.cli import backup_cli
    from portal.backups.routes import bp
    from portal.navigation import NavEntry, add_footer_entry
    from portal.permissions import Permission

    settings.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(backup_cli)
    # In the footer: the DPO's header has no room left at 1280 px (tests/browser/test_layout.py).
    add_footer_entry(app, NavEntry("backups.backups", _l("Backups"), Permission.BACKUP_READ))
