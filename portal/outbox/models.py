"""The durable outbox: one row per message, written in the transaction that causes it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, created_at


class MessageState(enum.StrEnum):
    """Where a message is: waiting (maybe for its next attempt), sent, or given up."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """A message to deliver. Recipient, subject and body are sealed; erased once sent.

    A sender claims a pending message by writing its name and a lease end in one conditional
    UPDATE (`lease_until` empty or past): only one sender wins, and a message claimed by a
    sender that died is claimed again once its lease has expired.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'sent', 'failed')", name="state"),
        Index("ix_outbox_message_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: opaque random reference: the associated data of the ciphertext and the Message-ID
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    #: what the message is about, from a closed list of the areas (never the case or person)
    kind: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_at]
    state: Mapped[str] = mapped_column(String(16), default=MessageState.PENDING)
    #: attempts started so far (a claim counts, even by a sender that died)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the sender holding the message, and until when
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: why the last attempt failed (the error's kind and the server's answer, no content)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: the sealed {"to", "subject", "body"}; NULL once sent
    kek_version: Mapped[int | None] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: a hook the sending area registered, called in the sender's transaction once the
    #: message is sent or given up (e.g. the serious-event mail's audit entry), and its values
    on_outcome: Mapped[str | None] = mapped_column(String(64))
    outcome_args: Mapped[dict | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.state}>"
