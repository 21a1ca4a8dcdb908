"""Audit action names of the outbox area."""

from __future__ import annotations

import enum


class OutboxAction(enum.StrEnum):
    """Every logged action of the outbox area."""

    #: the sender gave a message up after its last attempt (the failure stays on /outbox/)
    MESSAGE_GIVEN_UP = "outbox:message:give_up"
    #: someone consulted the outbox page
    OUTBOX_READ = "outbox:outbox:read"
