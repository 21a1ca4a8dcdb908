"""Key check values: prove the key file matches this database without storing a key."""

from __future__ import annotations

from sqlalchemy import String, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import Base, created_at
from portal.keys import KeyFileError, KeyRing


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


def check_keys_against_database(session: Session, ring: KeyRing) -> None:
    """Refuse a key file that does not match the keys this database was written with.

    Key ids the database has not seen yet are recorded (first start, or a new KEK version).
    Does nothing before the schema exists, so `portal db upgrade` can run first.
    """
    if not inspect(session.get_bind()).has_table(KeyCheck.__tablename__):
        return
    stored = {row.key_id: row.check_value for row in session.scalars(select(KeyCheck))}
    values = ring.check_values()
    for key_id, value in values.items():
        if key_id in stored and stored[key_id] != value:
            raise KeyFileError(
                f"The key file {ring.path} does not match this database (key {key_id} "
                "differs): start with the key file this database was created with."
            )
    single = {k for k in stored if not k.startswith("kek:")}
    missing = single - set(values)
    if missing:
        raise KeyFileError(
            f"The key file {ring.path} does not match this database "
            f"(it lacks {', '.join(sorted(missing))})."
        )
    new = [KeyCheck(key_id=k, check_value=v) for k, v in values.items() if k not in stored]
    if not new:
        return
    session.add_all(new)
    try:
        session.commit()
    except IntegrityError:
        # Another worker recorded them at the same moment: check again against what it wrote.
        session.rollback()
        check_keys_against_database(session, ring)
