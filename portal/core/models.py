"""Models of the portal's shell."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, created_at


class KeyCheck(Base):
    """A key check value: proves the key file matches this database without storing a key."""

    __tablename__ = "key_check"

    #: key id in the key file: kek:<version>, blind_index, totp, audit, backup
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: truncated HMAC of a fixed label under the key
    check_value: Mapped[str] = mapped_column(String(64))
    #: when the key was first seen by this database
    recorded_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<KeyCheck {self.key_id}>"


__all__ = ["KeyCheck", "datetime"]
