"""Audit action names of the retention area: `retention:<subject>:<action>`."""

from __future__ import annotations

import enum


class RetentionAction(enum.StrEnum):
    #: a case moved between states (details: from, to, rule, inputs, job)
    CASE_TRANSITION = "retention:case:transition"
    #: a purge was applied again from the ledger (after a restore)
    LEDGER_REAPPLY = "retention:ledger:reapply"
    #: a dated AAC decision was recorded with its evidence
    AAC_RECORD = "retention:aac:record"
    #: a legal hold was opened or released
    HOLD_OPEN = "retention:hold:open"
    HOLD_RELEASE = "retention:hold:release"
    #: an archivist read an archived case (details: reason)
    ARCHIVE_READ = "retention:archive:read"
    #: the daily run started, finished, or found another run holding the lock
    RUN_FINISH = "retention:run:finish"
    RUN_LOCKED = "retention:run:locked"
    #: the prescriber was reminded that an AAC ends without renewal
    AAC_REMIND = "retention:aac:remind"
    #: RET-05: an unused account without cases was disabled, or deleted
    ACCOUNT_DISABLE = "retention:account:disable"
    ACCOUNT_DELETE = "retention:account:delete"
