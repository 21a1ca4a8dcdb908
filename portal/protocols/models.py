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
    #: who wrote the draft it came from (None: installed from a file)
    author_label: Mapped[str | None] = mapped_column(String(128))
    #: who approved it (maker-checker), and when; None for a CLI install
    approved_by_label: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    audit_type = "protocol_version"

    @property
    def audit_ref(self) -> str:
        return f"{self.protocol_key}@{self.content_hash[:12]}"


class DraftStatus:
    """Where a draft stands in the maker-checker cycle."""

    EDITING = "editing"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REFUSED = "refused"


class ProtocolDraft(Base):
    """A definition being written in the browser, before a second person puts it in force.

    `revision` counts saves: a save names the revision it started from and is refused when
    someone else saved in between (two managers on one draft get a conflict, not a lost update).
    """

    __tablename__ = "protocol_draft"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the protocol's key as the text last saved names it ("" while it names none)
    protocol_key: Mapped[str] = mapped_column(String(64), index=True)
    #: a file name, for the locations of findings (its suffix decides YAML or JSON)
    source_name: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=DraftStatus.EDITING)
    #: current | file | redcap | odm | xlsform
    origin: Mapped[str] = mapped_column(String(16))
    #: the version in force when the draft was started (what it is compared with)
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("protocol_version.id"))
    #: the importer's per-field fate report, as JSON
    import_report: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_label: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by_label: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_label: Mapped[str | None] = mapped_column(String(128))
    #: why it was refused (typed by the approver; no patient data)
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    installed_version_id: Mapped[int | None] = mapped_column(ForeignKey("protocol_version.id"))

    audit_type = "protocol_draft"

    @property
    def audit_ref(self) -> str:
        return str(self.id)
