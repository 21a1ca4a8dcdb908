"""Audit entries, chained by HMAC-SHA-256, and the chain head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime

GENESIS_HASH = b"\x00" * 32


class AuditEvent(Base):
    """One logged action: who, when, what, on which record, with what outcome.

    Never health data, never a secret, never the identification letters: only opaque
    references and short codes go in `details`.
    """

    __tablename__ = "audit_event"

    #: gap-free sequence number: a deleted or inserted row breaks the numbering
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    #: when it happened (UTC)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: user, cli, system or anonymous
    actor_kind: Mapped[str] = mapped_column(String(16))
    #: the user's id when actor_kind is user
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: the user's login, or the CLI operator / job name
    actor_label: Mapped[str] = mapped_column(String(128))
    #: SHA-256 of the session id (never the id itself)
    session_hash: Mapped[str | None] = mapped_column(String(64))
    #: <area>:<subject>:<action>
    action: Mapped[str] = mapped_column(String(96), index=True)
    #: what kind of record was touched (patient, submission, grant, user, ...)
    target_type: Mapped[str | None] = mapped_column(String(32))
    #: the opaque reference of the record
    target_ref: Mapped[str | None] = mapped_column(String(96), index=True)
    #: success, failure or denied
    outcome: Mapped[str] = mapped_column(String(16))
    #: client IP address, when the action came from a request
    client_address: Mapped[str | None] = mapped_column(String(64))
    #: short coded details (counts, codes, opaque references)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the previous entry's hash
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: HMAC-SHA-256(audit key, prev_hash || canonical entry)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The single row holding the last sequence number and hash; writers lock it in turn."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: sequence number of the newest entry (0 before the first one)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    #: hash of the newest entry (or of the last purge checkpoint)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
