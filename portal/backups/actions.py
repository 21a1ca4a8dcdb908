"""Audit action names of the backups area."""

from __future__ import annotations

import enum


class BackupAction(enum.StrEnum):
    """Every logged action of the backups area."""

    #: `portal backup create` wrote a sealed backup file
    BACKUP_CREATE = "backups:backup:create"
    #: `portal backup verify` checked a file (outcome failure when it was refused)
    BACKUP_VERIFY = "backups:backup:verify"
    #: a restore wrote this database from a backup (written in the restored database)
    DATABASE_RESTORE = "backups:database:restore"
    #: `portal backup prune` deleted the files past the rotation
    BACKUP_PRUNE = "backups:backup:prune"
    #: someone consulted the backups page
    BACKUPS_READ = "backups:backups:read"
