"""The laboratory's licensed MedDRA release, one per language: its LLTs and PTs, codes and names.

MedDRA is licensed: the portal ships no term, the laboratory loads its own release
(`portal meddra load DIR`). Only what checking and showing a code needs is kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime

#: the two levels a form field may be coded at
LLT, PT = "llt", "pt"


class MeddraRelease(Base):
    """The release loaded for one language (loading another version replaces it)."""

    __tablename__ = "meddra_release"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: "fr" or "en": the language of the names
    language: Mapped[str] = mapped_column(String(2), unique=True)
    #: the MedDRA version, e.g. "27.0" (from meddra_release.asc)
    version: Mapped[str] = mapped_column(String(20))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: who loaded it (CLI operator)
    loaded_by_label: Mapped[str] = mapped_column(String(128))
    llt_count: Mapped[int] = mapped_column(Integer)
    pt_count: Mapped[int] = mapped_column(Integer)

    audit_type = "meddra_release"

    @property
    def audit_ref(self) -> str:
        return f"{self.language}@{self.version}"


class MeddraTerm(Base):
    """One LLT or PT of a release. A PT's code is also the code of an LLT (MedDRA's rule)."""

    __tablename__ = "meddra_term"

    release_id: Mapped[int] = mapped_column(
        ForeignKey("meddra_release.id", ondelete="CASCADE"), primary_key=True)
    #: LLT or PT
    level: Mapped[str] = mapped_column(String(3), primary_key=True)
    #: eight digits
    code: Mapped[str] = mapped_column(String(8), primary_key=True, index=True)
    name: Mapped[str] = mapped_column(Text)
    #: the PT an LLT belongs to (None for a PT)
    pt_code: Mapped[str | None] = mapped_column(String(8))
    #: llt_currency = Y (a PT is always current)
    current: Mapped[bool] = mapped_column()
