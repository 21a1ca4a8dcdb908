"""Audit action names of the notices area (`notices:<subject>:<action>`)."""

from __future__ import annotations

import enum


class NoticeAction(enum.StrEnum):
    """Every change the notices area writes to the audit trail."""

    DRAFT_CREATE = "notices:version:create"
    DRAFT_UPDATE = "notices:version:update"
    DRAFT_DISCARD = "notices:version:discard"
    PUBLISH = "notices:version:publish"
    SUPERSEDE = "notices:version:supersede"
    ACKNOWLEDGE = "notices:acknowledgement:create"
