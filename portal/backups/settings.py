"""Settings of the backups area (PORTAL_<NAME> sets each one)."""

from __future__ import annotations

from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    #: where `portal backup create` writes its files (empty: instance/backups)
    "BACKUP_DIR": "",
    #: off-host copy: a directory mounted from another host, and/or a command run with the
    #: file's path as its last argument (e.g. "rsync -t --chmod=F400 --" plus a destination
    #: written before the path by a wrapper script); the file is already sealed
    "BACKUP_COPY_DIR": "",
    "BACKUP_COPY_COMMAND": "",
    #: rotation kept by `portal backup prune`: newest backup of each of the last N days,
    #: ISO weeks and months
    "BACKUP_KEEP_DAILY": 7,
    "BACKUP_KEEP_WEEKLY": 4,
    "BACKUP_KEEP_MONTHLY": 12,
    #: `portal backup verify --latest --status` fails when the newest verified backup is older
    "BACKUP_VERIFIED_MAX_AGE_HOURS": 36,
    #: plaintext bytes per sealed chunk
    "BACKUP_CHUNK_SIZE": 1024 * 1024,
    #: submissions opened by `verify` in the restored copy
    "BACKUP_VERIFY_SAMPLE": 25,
    #: a PostgreSQL server (any database on it) where `verify` creates its scratch database;
    #: empty: the portal's own server
    "BACKUP_SCRATCH_URL": "",
}


def init_app(app: Flask) -> None:
    from portal.config import apply_area_defaults

    apply_area_defaults(app.config, DEFAULTS)


def max_backup_age_days(app: Flask) -> int:
    """The longest a backup is kept by the rotation: purged data survive in backups this long."""
    daily = int(app.config["BACKUP_KEEP_DAILY"])
    weekly = int(app.config["BACKUP_KEEP_WEEKLY"]) * 7
    monthly = int(app.config["BACKUP_KEEP_MONTHLY"]) * 31
    # Until the next prune runs (daily), one more day.
    return max(daily, weekly, monthly) + 1
