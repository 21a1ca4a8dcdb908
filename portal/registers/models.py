"""The accountability registers, kept as versions: an edit adds a version, none is changed.

Every register item (the record of processing, each breach, each processor, the DPIA) is a
series of `RegisterVersion` rows sharing a kind and an item number; the highest number is the
item as it stands, the earlier ones stay readable; database triggers (`ddl`) refuse any UPDATE
or DELETE of a version. The 72-hour alerts already sent are rows of
`BreachAlert`, one per breach and threshold, so that an alert goes out once whatever the number
of workers or scheduled runs.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, created_at, table_of
from portal.registers import ddl


class RegisterKind(enum.StrEnum):
    """Which register an item belongs to."""

    PROCESSING = "processing"
    BREACH = "breach"
    PROCESSOR = "processor"
    DPIA = "dpia"
    #: the formalities covering a research reuse of the data (referential 5.4)
    RESEARCH = "research"


KIND_SQL = ", ".join(f"'{kind.value}'" for kind in RegisterKind)


class RegisterVersion(Base):
    """One version of one register item: what the DPO typed (JSON) and who saved it."""

    __tablename__ = "register_version"
    __table_args__ = (
        UniqueConstraint("kind", "item_no", "number", name="uq_register_version_number"),
        CheckConstraint(f"kind IN ({KIND_SQL})", name="kind_known"),
        CheckConstraint("number >= 1 AND item_no >= 1", name="positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: a RegisterKind value
    kind: Mapped[str] = mapped_column(String(16), index=True)
    #: the item within its register (breach B3, processor P2); 1 for the single records
    item_no: Mapped[int] = mapped_column(Integer)
    #: 1 for the first version, then one more per edit
    number: Mapped[int] = mapped_column(Integer)
    #: a short state, for lists and the home page (breach: draft/open/closed, DPIA: to_review...)
    status: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[created_at]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the login or the CLI operator, kept when the account is gone
    author_label: Mapped[str] = mapped_column(String(200))

    @property
    def audit_type(self) -> str:
        return f"register_{self.kind}"

    @property
    def audit_ref(self) -> str:
        return f"{REFERENCE_PREFIX[RegisterKind(self.kind)]}{self.item_no}-v{self.number}"

    @property
    def reference(self) -> str:
        """The item's reference as people read it (B3, P2, DPIA1)."""
        return f"{REFERENCE_PREFIX[RegisterKind(self.kind)]}{self.item_no}"


REFERENCE_PREFIX = {
    RegisterKind.PROCESSING: "RT",
    RegisterKind.BREACH: "B",
    RegisterKind.PROCESSOR: "P",
    RegisterKind.DPIA: "AIPD",
    RegisterKind.RESEARCH: "RS",
}


class BreachAlert(Base):
    """A 72-hour clock alert (24, 48 or 66 hours) raised for one breach: at most once each."""

    __tablename__ = "register_breach_alert"
    __table_args__ = (
        UniqueConstraint("item_no", "hours", name="uq_register_breach_alert_once"),
        CheckConstraint("hours IN (24, 48, 66)", name="threshold_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_no: Mapped[int] = mapped_column(Integer)
    hours: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: how many DPO addresses the mail went to (0: nobody to tell, the page still shows it)
    mailed_to: Mapped[int] = mapped_column(Integer, default=0)


ddl.protect(table_of(RegisterVersion))


class BreachLetter(Base):
    """A letter to one prescriber about one breach: his own patients' cases only (REC-05).

    The letter is read in the portal only; the mail that announces it carries no case number.
    It is written from one version of the breach (`breach_number`), kept as it was.
    """

    __tablename__ = "register_breach_letter"
    __table_args__ = (
        UniqueConstraint("item_no", "breach_number", "prescriber_id",
                         name="uq_register_breach_letter_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_no: Mapped[int] = mapped_column(Integer, index=True)
    breach_number: Mapped[int] = mapped_column(Integer)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    cases: Mapped[list[str]] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_by_label: Mapped[str] = mapped_column(String(200))
