"""Audit entries chained by HMAC-SHA-256, the chain head, purge checkpoints, alerts, check runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.audit import ddl
from portal.db import Base, UTCDateTime, created_at, table_of

GENESIS_HASH = b"\x00" * 32

#: 64-bit sequence numbers on PostgreSQL; SQLite's INTEGER is already 64-bit
SeqType = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(Base):
    """One logged action: who, when, what, on which record, with what outcome.

    Never health data, never a secret, never the identification letters: only opaque
    references and short codes go in `details`.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        # Keyset pages of the trail filtered by person or action, either way (trail.py).
        Index("ix_audit_event_actor_id_seq", "actor_id", "seq"),
        Index("ix_audit_event_actor_label_seq", "actor_label", "seq"),
        Index("ix_audit_event_action_seq", "action", "seq"),
    )

    #: gap-free sequence number: a deleted or inserted row breaks the numbering
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    #: when it happened (UTC)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: user, cli, system or anonymous
    actor_kind: Mapped[str] = mapped_column(String(16))
    #: the user's id when actor_kind is user
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: the user's login, or the CLI operator / job name
    actor_label: Mapped[str] = mapped_column(String(128), index=True)
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
    seq: Mapped[int] = mapped_column(SeqType, default=0)
    #: hash of the newest entry (or of the last purge checkpoint)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """Where a purge cut the chain: the last purged entry's number and hash, MAC-protected.

    The remaining chain starts at `seq + 1` with `prev_hash == hash`. The MAC (audit key) makes
    a checkpoint impossible to forge, so deleting the oldest entries without the key shows up.
    """

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: sequence number of the last purged entry
    seq: Mapped[int] = mapped_column(SeqType, unique=True)
    #: hash of the last purged entry
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: when the purge ran
    created_at: Mapped[created_at]
    #: who ran it: cli, system (or user)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_label: Mapped[str] = mapped_column(String(128))
    #: the retention applied, in days
    retention_days: Mapped[int] = mapped_column(Integer)
    #: how many entries this purge deleted
    deleted: Mapped[int] = mapped_column(Integer)
    #: HMAC-SHA-256(audit key, label || canonical checkpoint fields)
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditAlert(Base):
    """A finding of the automatic checks (SEC-JOU-4), shown to the auditors and the DPO."""

    __tablename__ = "audit_alert"
    __table_args__ = (Index("ix_audit_alert_rule_subject", "rule", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the rule that found it (reads_per_hour, outside_grant, night_activity, ...)
    rule: Mapped[str] = mapped_column(String(32))
    #: what the finding is about: U<id> for a person, an address, "chain"...
    subject: Mapped[str] = mapped_column(String(96))
    #: when the check first raised it, and when a later check last extended it
    raised_at: Mapped[created_at]
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the trail entries concerned (sequence numbers, inclusive)
    seq_from: Mapped[int | None] = mapped_column(SeqType)
    seq_to: Mapped[int | None] = mapped_column(SeqType)
    #: when the entries concerned happened (UTC)
    first_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the person concerned, when there is one
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str | None] = mapped_column(String(128))
    #: the record or account concerned, when there is one
    target_ref: Mapped[str | None] = mapped_column(String(96))
    #: the measure that crossed the threshold (distinct patients, failures, rows...)
    count: Mapped[int] = mapped_column(Integer, default=0)
    #: thresholds and short codes explaining the finding
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    audit_type = "alert"

    @property
    def audit_ref(self) -> str:
        return f"A{self.id}"


class AuditCheckRun(Base):
    """One run of the automatic checks; the last successful one must be under 60 days old."""

    __tablename__ = "audit_check_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: every rule ran to its end (findings do not make a run fail)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: the entries examined: from this time (None: from the oldest entry), plus every entry
    #: written since the previous run, up to this sequence number
    checked_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_up_to_seq: Mapped[int] = mapped_column(SeqType, default=0)
    #: alerts raised by this run (extended ones not counted)
    new_alerts: Mapped[int] = mapped_column(Integer, default=0)
    #: who ran it (CLI operator or job name)
    actor_label: Mapped[str] = mapped_column(String(128))


def _insert_head(target: Table, connection: Connection, **_kw: Any) -> None:
    # The head exists from the start: concurrent first writers never race to create it.
    connection.execute(target.insert().values(id=1, seq=0, last_hash=GENESIS_HASH))


event.listen(AuditHead.__table__, "after_create", _insert_head)
for _model in (AuditEvent, AuditCheckpoint, AuditHead):
    ddl.protect(table_of(_model))
