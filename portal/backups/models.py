"""What the portal knows of its backups: one row per file made or verified."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime


class BackupRun(Base):
    """A backup file: when it was made, its size, and its last verification."""

    __tablename__ = "backup_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the file's name in BACKUP_DIR (names are unique: they carry the creation time)
    file_name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    size: Mapped[int] = mapped_column(BigInteger)
    dialect: Mapped[str] = mapped_column(String(16))
    schema_revision: Mapped[str | None] = mapped_column(String(64))
    audit_head_seq: Mapped[int] = mapped_column(BigInteger)
    total_rows: Mapped[int] = mapped_column(BigInteger)
    #: where the off-host copy went ("" when no copy hook is set), or why it failed
    copy_result: Mapped[str] = mapped_column(Text, default="")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_ok: Mapped[bool | None] = mapped_column(Boolean)
    verify_message: Mapped[str | None] = mapped_column(Text)
    pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<BackupRun {self.file_name}>"
