"""People with an account, their server-side sessions, TOTP and one-time tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, bool_false, created_at


class User(Base):
    """One nominative person. Professional data only: name, specialty, RPPS, work contacts."""

    __tablename__ = "users"
    __table_args__ = (
        # Logins are unique whatever their case (SEC-AUT-1a).
        Index("uq_users_login_normalised", "login_normalised", unique=True),
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

    # Flask-Login protocol: the session record, not the user, decides authentication.
    is_anonymous = False

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
