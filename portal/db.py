"""Database layer: declarative base, UTC datetimes, one session per request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from flask import Flask, current_app, g, has_request_context
from flask.globals import request_ctx
from sqlalchemy import CursorResult, DateTime, Engine, MetaData, Result, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from portal import clock

log = logging.getLogger(__name__)

#: the errors that mean the database does not answer (down, restarting, connection cut, pool
#: exhausted); OperationalError also covers a deadlock or "database is locked", transient too.
#: Code that fails closed on any error lets these through: an outage is a 503, not a refusal.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError,
                                                     PoolTimeout)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime column that only accepts and always returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: times are UTC and timezone-aware")
        value = value.astimezone(UTC)
        # SQLite has no time zone type: store naive UTC, re-attach UTC on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class (the declarative typing only promises a FromClause)."""
    return cast(Table, model.__table__)


def rows_affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (the typed result hides the cursor's count)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def utcnow() -> datetime:
    """Return the current time (the portal clock), aware UTC."""
    return clock.now()


class Base(DeclarativeBase):
    """Declarative base of every model; constraint names follow one convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


#: a creation timestamp column set by the portal clock
created_at = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, nullable=False)]
#: a boolean column false by default
bool_false = Annotated[bool, mapped_column(default=False, server_default="0", nullable=False)]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # A deleted row is overwritten, not left in a free page (purged cases, RET-03).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL mode and foreign keys on every connection."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _outage_options(url: str) -> dict[str, Any]:
    """Engine options that let the portal ride out a database server's outage without a restart.

    Every connection taken from the pool is checked first (`pool_pre_ping`): after the server
    restarted, a dead pooled connection is replaced instead of failing the request. A new
    connection gives up after `DATABASE_CONNECT_TIMEOUT` seconds (unless the URL says
    otherwise), so that an unreachable server costs a request seconds, not a worker. SQLite has
    no server and no connection to lose: it gets neither, and no extra query per request.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    options: dict[str, Any] = {"pool_pre_ping": True}
    if "connect_timeout" not in parsed.query:
        options["connect_args"] = {"connect_timeout": DATABASE_CONNECT_TIMEOUT}
    return options


#: seconds a new PostgreSQL connection may take before the request answers 503
DATABASE_CONNECT_TIMEOUT = 5


def init_app(app: Flask) -> None:
    """Bind an engine and a session factory to the app; close the request session on teardown."""
    engine = make_engine(app.config["DATABASE_URL"], **_outage_options(app.config["DATABASE_URL"]))
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    app.extensions["portal.db"] = (engine, factory)

    @app.teardown_request
    def _close_request_session(exc: BaseException | None) -> None:
        _close(request_ctx.__dict__.pop("portal_db_session", None), exc)

    @app.teardown_appcontext
    def _close_context_session(exc: BaseException | None) -> None:
        _close(g.pop("db_session", None), exc)


def _close(session: Session | None, exc: BaseException | None) -> None:
    if session is None:
        return
    try:
        if exc is not None:
            session.rollback()
        session.close()
    except DATABASE_UNAVAILABLE:
        # The server went away after the page was made (a restart): closing rolls back what the
        # request left open, and that ROLLBACK fails. The server has ended the transaction
        # itself; the answer already made stands, and the dead connection leaves the pool.
        log.warning("the database closed the connection while a request ended; dropped")
        session.invalidate()


def get_engine(app: Flask | None = None) -> Engine:
    """Return the engine bound to the (current) app."""
    return (app or current_app).extensions["portal.db"][0]


def new_session(app: Flask | None = None) -> Session:
    """Open a session outside a request (CLI, jobs, tests); the caller closes it.

    The session carries its app in `session.info`, so that services taking only a session
    reach the configuration and the key ring without an app context.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    session = app.extensions["portal.db"][1]()
    session.info["portal.app"] = app
    return session


def on_rollback(handler: Callable[[Session], None]) -> Callable[[Session], None]:
    """Call `handler(session)` when a session's transaction rolls back, not a savepoint.

    SQLAlchemy's `after_rollback` also fires when a savepoint (`begin_nested`) rolls back,
    while the transaction around it goes on and may still commit what was queued before it.
    """
    def listener(session: Session, previous_transaction: Any) -> None:
        if not previous_transaction.nested:
            handler(session)

    event.listen(Session, "after_soft_rollback", listener)
    return handler


def app_of(session: Session) -> Flask:
    """Return the app a session was opened for."""
    return session.info["portal.app"]


def get_session() -> Session:
    """Return the session of the current request (or app context), opening it on first use.

    A request always gets its own session, even when a test holds an app context open, so
    that what a test sets up is only seen by a request once it is committed.
    """
    if has_request_context():
        holder = request_ctx.__dict__
        if "portal_db_session" not in holder:
            holder["portal_db_session"] = new_session()
        return holder["portal_db_session"]
    if "db_session" not in g:
        g.db_session = new_session()
    return g.db_session


#: on the request: a commit of written rows was started (it may or may not have reached the disk)
_WRITE_COMMIT = "portal_write_commit_started"
_FLUSHED = "portal.flushed"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_FLUSHED] = True


@event.listens_for(Session, "before_commit")
def _note_write_commit(session: Session) -> None:
    if not has_request_context() or request_ctx.__dict__.get("portal_db_session") is not session:
        return  # only the request's own session: not a job or a side transaction it ran
    if session.info.get(_FLUSHED) or session.new or session.dirty or session.deleted:
        request_ctx.__dict__[_WRITE_COMMIT] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_flush(session: Session, *_args: Any) -> None:
    session.info.pop(_FLUSHED, None)


def write_commit_started() -> bool:
    """True when this request began committing rows it wrote.

    After a database failure this tells "nothing was stored" (False) from "what was sent may
    be stored" (True: the commit may have reached the server before the connection broke).
    """
    return has_request_context() and bool(request_ctx.__dict__.get(_WRITE_COMMIT))


def discard_request_session() -> None:
    """Roll back and drop the current request's session (after an unexpected error)."""
    holder = request_ctx.__dict__ if has_request_context() else None
    session = holder.pop("portal_db_session", None) if holder is not None else None
    if session is not None:
        try:
            session.rollback()
        except SQLAlchemyError:
            pass  # the connection went with the database; the pool replaces it
        session.close()
