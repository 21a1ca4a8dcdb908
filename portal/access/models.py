"""Establishments, memberships and time-limited access grants."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.db import Base, UTCDateTime, bool_false, created_at
from portal.permissions import Role


class Scope(enum.StrEnum):
    """How directly the data identify a person (section 8)."""

    AGGREGATED = "aggregated"
    PSEUDONYMISED = "pseudonymised"
    IDENTIFYING = "identifying"


class Category(enum.StrEnum):
    """Health data, or other data only (contacts, orders)."""

    HEALTH = "health"
    OTHER = "other"


class GrantStatus(enum.StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


membership = Table(
    "establishment_member",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("establishment_id", ForeignKey("establishment.id"), primary_key=True),
)

grant_establishment = Table(
    "grant_establishment",
    Base.metadata,
    Column("grant_id", ForeignKey("access_grant.id", ondelete="CASCADE"), primary_key=True),
    Column("establishment_id", ForeignKey("establishment.id"), primary_key=True),
)


class Establishment(Base):
    """A hospital or clinic, identified by its FINESS number."""

    __tablename__ = "establishment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: FINESS number (9 characters, check key verified)
    finess: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    city: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[created_at]

    members: Mapped[list[User]] = relationship(secondary=membership)

    audit_type = "establishment"

    @property
    def audit_ref(self) -> str:
        return f"E{self.finess}"


class AccessGrant(Base):
    """Who may do what, on which data, in which perimeter, between two dates (SEC-HAB)."""

    __tablename__ = "access_grant"
    __table_args__ = (
        CheckConstraint("valid_until > valid_from", name="valid_period"),
        CheckConstraint(
            "scope IN ('aggregated', 'pseudonymised', 'identifying')", name="scope_known"
        ),
        CheckConstraint("category IN ('health', 'other')", name="category_known"),
        CheckConstraint(
            "status IN ('pending_approval', 'active', 'suspended', 'withdrawn', 'expired')",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: a Role value
    role: Mapped[str] = mapped_column(String(32))
    #: a Scope value
    scope: Mapped[str] = mapped_column(String(16))
    #: a Category value
    category: Mapped[str] = mapped_column(String(8))
    #: the protocol this grant covers; None covers every protocol of the laboratory
    protocol_key: Mapped[str | None] = mapped_column(String(64))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    #: mandatory, at most 365 days after valid_from (30 for auditors)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    #: a GrantStatus value
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: the administrator who asked for it (maker)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the second administrator who approved it (checker), for identifying health data
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: auditors: motivation code from a fixed list, and the reference number
    motivation: Mapped[str | None] = mapped_column(String(32))
    motivation_reference: Mapped[str | None] = mapped_column(String(64))
    #: the last annual review: when, by whom, which decision (keep, change, revoke)
    last_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_review_decision: Mapped[str | None] = mapped_column(String(16))
    #: when it ended early (withdrawn or suspended), and why (a short code)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
    #: suspended because its review fell overdue (SEC-HAB-3)
    suspended_for_review: Mapped[bool_false]
    created_at: Mapped[created_at]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    establishments: Mapped[list[Establishment]] = relationship(secondary=grant_establishment)
    #: the maker, the checker and the last reviewer (read-only views of the columns above)
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id],
                                                     viewonly=True)
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id],
                                                    viewonly=True)
    last_reviewed_by: Mapped[User | None] = relationship(foreign_keys=[last_reviewed_by_id],
                                                         viewonly=True)

    audit_type = "grant"

    @property
    def audit_ref(self) -> str:
        return f"G{self.id}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def is_valid_at(self, moment: datetime) -> bool:
        """True when the grant is active and `moment` lies in its validity period."""
        return (
            self.status == GrantStatus.ACTIVE
            and self.valid_from <= moment <= self.valid_until
        )
