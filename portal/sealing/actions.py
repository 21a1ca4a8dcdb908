"""Audit action names of key rotation (kept from when it lived in the records area)."""

from __future__ import annotations

import enum


class SealingAction(enum.StrEnum):
    """The trail's entries of a key rotation; the names are stored, keep them."""

    KEK_ROTATE = "records:kek:rotate"
    KEK_RETIRE = "records:kek:retire"
