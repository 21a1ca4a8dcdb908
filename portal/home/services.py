"""Services of the home area: the health check's question to the database."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session


def database_answers(session: Session) -> bool:
    """Return True when the database answers a trivial query."""
    try:
        session.execute(text("SELECT 1"))
        return True
    except (DBAPIError, PoolTimeout):
        try:
            session.rollback()
        except SQLAlchemyError:
            pass  # the connection is gone; the pool replaces it
        return False
