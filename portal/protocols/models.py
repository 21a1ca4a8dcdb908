"""Installed protocol versions: the definition text as installed, never edited in place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, bool_false


class ProtocolVersion(Base):
    """One installed version of a PUT-SP definition.

    The source text is kept as installed, so a submission always re-renders against the exact
    definition it was filled with; the content hash identifies it.
    """

    __tablename__ = "protocol_version"
    __table_args__ = (UniqueConstraint("protocol_key", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the protocol's stable key (several versions share it)
    protocol_key: Mapped[str] = mapped_column(String(64), index=True)
    #: the version label written in the definition
    version_label: Mapped[str] = mapped_column(String(32))
    #: SHA-256 of the canonical definition
    content_hash: Mapped[str] = mapped_column(String(64))
    #: the file name it was installed from
    source_name: Mapped[str] = mapped_column(String(255))
    #: the definition text, as installed
    source_text: Mapped[str] = mapped_column(Text)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    installed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: who installed it (login or CLI operator)
    installed_by_label: Mapped[str] = mapped_column(String(128))
    #: the version in force for new submissions
    is_current: Mapped[bool_false]

    audit_type = "protocol_version"

    @property
    def audit_ref(self) -> str:
        return f"{self.protocol_key}@{self.content_hash[:12]}"
