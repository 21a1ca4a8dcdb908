"""People with an account, their server-side sessions, TOTP and one-time tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, bool_false, created_at


class User(Base):
    """One nominative person. Professional data only: name, specialty, RPPS, work contacts."""

    __tablename__ = "users"
    __table_args__ = (
        # Logins are unique whatever their case (SEC-AUT-1a).
        Index("uq_users_login_normalised", "login_normalised", unique=True),
        # Keyset pages of the people list by name and by date of creation (access/people.py).
        Index("ix_users_name", "last_name", "first_name", "id"),
        Index("ix_users_created", "created_at", "id"),
        # Prefix searches of the people list (access/people.py): an indexed range on SQLite,
        # LIKE 'x%' on PostgreSQL, whose default collation needs the pattern operators for it.
        Index("ix_users_login_prefix", "login_normalised",
              postgresql_ops={"login_normalised": "text_pattern_ops"}),
        Index("ix_users_last_name_prefix", func.lower(text("last_name")).label("last_lower"),
              postgresql_ops={"last_lower": "text_pattern_ops"}),
        Index("ix_users_first_name_prefix", func.lower(text("first_name")).label("first_lower"),
              postgresql_ops={"first_lower": "text_pattern_ops"}),
        # One account per subject of the identity federation.
        Index("uq_users_federated_subject", "federated_subject", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the login as typed at creation
    login: Mapped[str] = mapped_column(String(64))
    #: NFKC + casefold of the login, unique
    login_normalised: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    #: professional e-mail address
    email: Mapped[str] = mapped_column(String(254))
    #: professional telephone number
    phone: Mapped[str | None] = mapped_column(String(32))
    #: medical specialty or job title
    specialty: Mapped[str | None] = mapped_column(String(80))
    #: RPPS number of a healthcare professional (11 digits, Luhn)
    rpps: Mapped[str | None] = mapped_column(String(11))
    #: preferred language (fr or en); None follows the browser
    locale: Mapped[str | None] = mapped_column(String(5))
    #: argon2id hash; None until the account is activated
    password_hash: Mapped[str | None] = mapped_column(String(256))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: forced change of password at next login (suspected compromise)
    must_change_password: Mapped[bool_false]
    #: set when an administrator disables the account; it then cannot log in
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the last complete login (password and second factor)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: consecutive failed password attempts since the last full success
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: no password is even checked before this time (SEC-AUT-5a)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[created_at]

    #: TOTP secret sealed with the TOTP key (AES-256-GCM); None before enrolment
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: when TOTP enrolment was confirmed by a first valid code
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the last accepted TOTP time step; a code for this step or an earlier one is a replay
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: when the holder was last mailed about wrong or replayed codes (one mail per window)
    second_factor_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the professional's subject (`sub`) at the identity federation, once linked
    federated_subject: Mapped[str | None] = mapped_column(String(255))
    #: when the account was linked to that subject
    federated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    sessions: Mapped[list[UserSession]] = relationship(back_populates="user")

    audit_type = "user"

    @property
    def audit_ref(self) -> str:
        return f"U{self.id}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None

    # Flask-Login protocol: the session record, not the user, decides authentication. The
    # request loader only ever returns a user whose session passed both factors.
    is_anonymous = False
    is_authenticated = True

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def get_id(self) -> str:
        """Return the user id (Flask-Login protocol; the cookie never carries it)."""
        return str(self.id)

    @property
    def is_activated(self) -> bool:
        """True once the person has chosen a password through their activation link."""
        return self.password_hash is not None

    @property
    def is_enrolled(self) -> bool:
        """True once the second factor is confirmed."""
        return self.totp_confirmed_at is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.login}>"


class UserSession(Base):
    """A server-side session: the cookie only carries its random id (SEC-SES-1)."""

    __tablename__ = "user_session"

    #: SHA-256 of the 256-bit random id sent in the cookie (the id itself is never stored)
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[created_at]
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    #: when the second factor was passed; None while only the password is checked
    mfa_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: set by logout, disabling, password change or grant withdrawal
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="sessions")


class TokenPurpose:
    """Why a one-time link was issued."""

    ACTIVATION = "activation"
    RESET = "reset"


class AccountToken(Base):
    """A single-use activation or reset link (SEC-AUT-4a); only a hash of the token is kept."""

    __tablename__ = "account_token"
    __table_args__ = (
        CheckConstraint("purpose IN ('activation', 'reset')", name="purpose_known"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 (hex) of the 256-bit token mailed to the person
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: activation (new account) or reset (administrator-initiated)
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[created_at]
    #: 24 hours after creation at most
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: when the person used it to set a password
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: when a newer link, a disabling or a login made it void
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    audit_type = "account_token"

    @property
    def audit_ref(self) -> str:
        return f"T{self.id}"


class RecoveryCode(Base):
    """One single-use recovery code, stored as an argon2 hash only (SEC-AUT-2f)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: argon2id hash of the normalised code (16 hex digits)
    code_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[created_at]
    #: when it was used; a used code is refused
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginFailure(Base):
    """One failed password attempt, for the 25-per-24-hours cap (SEC-AUT-5b).

    Keyed on a hash of the submitted login, existing or not, so that the cap does not tell
    which accounts exist (SEC-AUT-3i) and what people mistype in the login field is not kept.
    """

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_login_key_at", "login_key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: SHA-256 (hex) of the normalised submitted login
    login_key: Mapped[str] = mapped_column(String(64))
    #: when it failed; rows older than 24 hours are purged
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LoginThrottle(Base):
    """Lock state of a submitted login that matches no account (accounts keep theirs in users).

    Unknown logins are locked on exactly the same schedule as real ones, so a lock page does not
    reveal whether an account exists (SEC-AUT-3i).
    """

    __tablename__ = "login_throttle"

    #: SHA-256 (hex) of the normalised submitted login
    login_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: consecutive failures
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: no password is checked before this time
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: last failure, for purging stale rows
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
