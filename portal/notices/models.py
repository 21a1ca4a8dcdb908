"""Notice versions (draft, published, superseded) and the acknowledgements of users."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.db import Base, UTCDateTime, created_at, utcnow


class NoticeStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


_ONE_PUBLISHED = "status = 'published'"
_ONE_DRAFT = "status = 'draft'"


class NoticeVersion(Base):
    """One version of one audience's notice: its slot values and, once published, its text.

    At publication the French and English texts are rendered and frozen, so that what was
    published (and acknowledged) stays readable exactly as it was, whatever later changes to
    the templates.
    """

    __tablename__ = "notice_version"
    __table_args__ = (
        UniqueConstraint("audience", "number", name="uq_notice_version_audience_number"),
        CheckConstraint(
            "audience IN ('patient', 'relative', 'professional', 'transparency', 'website')",
            name="audience_known",
        ),
        CheckConstraint("status IN ('draft', 'published', 'superseded')", name="status_known"),
        CheckConstraint(
            "status = 'draft' OR (published_at IS NOT NULL AND approved_by_label IS NOT NULL "
            "AND material IS NOT NULL AND body_fr IS NOT NULL AND body_en IS NOT NULL)",
            name="published_complete",
        ),
        CheckConstraint("status <> 'superseded' OR superseded_at IS NOT NULL",
                        name="superseded_dated"),
        CheckConstraint("number >= 1", name="number_positive"),
        # At most one published version and one draft per audience, enforced by the database.
        Index("uq_notice_version_one_published", "audience", unique=True,
              sqlite_where=text(_ONE_PUBLISHED), postgresql_where=text(_ONE_PUBLISHED)),
        Index("uq_notice_version_one_draft", "audience", unique=True,
              sqlite_where=text(_ONE_DRAFT), postgresql_where=text(_ONE_DRAFT)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: an Audience value
    audience: Mapped[str] = mapped_column(String(16))
    #: 1, 2, 3... per audience
    number: Mapped[int] = mapped_column(Integer)
    #: a NoticeStatus value
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.DRAFT)
    #: slot key -> value (text, {"fr", "en"}, a choice code, or the list of transfers)
    slots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: set at publication: True when purposes, recipients, transfers, retention or rights changed
    material: Mapped[bool | None] = mapped_column()
    #: who started the draft (None for the demo seeder or the CLI)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    #: who last saved the draft
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the DPO who approved the publication (None when a system actor published it)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the approver's name as shown on the notice (a person, or the system actor's label)
    approved_by_label: Mapped[str | None] = mapped_column(String(200))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the texts as published, frozen
    body_fr: Mapped[str | None] = mapped_column(Text)
    body_en: Mapped[str | None] = mapped_column(Text)
    #: optimistic lock: two editors saving the same draft cannot overwrite each other silently
    revision: Mapped[int] = mapped_column(Integer, server_default="1")

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])

    __mapper_args__ = {"version_id_col": revision}

    audit_type = "notice"

    @property
    def audit_ref(self) -> str:
        return f"{self.audience}-v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.status == NoticeStatus.DRAFT

    def body(self, lang: str) -> str | None:
        """Return the frozen text in `lang` (None for a draft)."""
        return self.body_en if lang == "en" else self.body_fr

    def __repr__(self) -> str:
        return f"<NoticeVersion {self.audit_ref} {self.status}>"


class NoticeAcknowledgement(Base):
    """A user was shown a notice version in full and confirmed reading it.

    This records information received, not consent: the processing does not rest on consent.
    """

    __tablename__ = "notice_acknowledgement"
    __table_args__ = (
        UniqueConstraint("user_id", "notice_version_id",
                         name="uq_notice_acknowledgement_user_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    notice_version_id: Mapped[int] = mapped_column(ForeignKey("notice_version.id"), index=True)
    #: when the user confirmed (UTC)
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()
    version: Mapped[NoticeVersion] = relationship()

    audit_type = "notice_acknowledgement"

    @property
    def audit_ref(self) -> str:
        return f"A{self.id}"
