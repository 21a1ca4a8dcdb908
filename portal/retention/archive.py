"""The intermediate archive: a store apart from the active base (RET-02).

On SQLite it is another database file; on PostgreSQL the schema `archive`, reached as its own
role (`PORTAL_RETENTION_ARCHIVE_URL`), which the web role is not granted. An archived case is
one bundle of its rows exactly as they were (sealed identity and answers included), and its
wrapped data keys in a table of their own, so that the purge destroys the keys first.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection

from portal.db import UTCDateTime, make_engine

SCHEMA = "archive"
archive_metadata = MetaData()

archived_case = Table(
    "archived_case", archive_metadata,
    Column("reference", String(40), primary_key=True),
    Column("protocol_key", String(64), nullable=False),
    Column("archived_at", UTCDateTime(), nullable=False),
    Column("job_id", String(40), nullable=False),
    #: JSON of the case's rows; binary columns base64, wrapped keys left out (archived_key)
    Column("bundle", Text, nullable=False),
    schema=SCHEMA,
)

archived_key = Table(
    "archived_key", archive_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(40), nullable=False, index=True),
    #: which row of the bundle the key opens: "patient" or "revision:<id>"
    Column("row", String(40), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("kek_version", Integer, nullable=False),
    schema=SCHEMA,
)


def archive_engine(app: Flask) -> Engine:
    """Return the engine of the archive store (one per app)."""
    engine = app.extensions.get("portal.retention.archive")
    if engine is None:
        url = str(app.config["RETENTION_ARCHIVE_URL"])
        engine = make_engine(url)
        if engine.dialect.name == "sqlite":
            # Another file: no schema; the tables are named plainly.
            engine = engine.execution_options(schema_translate_map={SCHEMA: None})
        app.extensions["portal.retention.archive"] = engine
    return engine


def create_archive_store(app: Flask) -> None:
    """Create the archive's tables (and schema on PostgreSQL) if they do not exist."""
    engine = archive_engine(app)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql" and connection.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": SCHEMA}
        ).first() is None:
            # Usually created by the database owner, AUTHORIZATION the archive's role.
            connection.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
        archive_metadata.create_all(connection)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"at": value.isoformat()}
    if hasattr(value, "isoformat"):
        return {"date": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "b64" in value:
            return base64.b64decode(value["b64"])
        if "at" in value:
            return datetime.fromisoformat(value["at"])
        if "date" in value:
            from datetime import date

            return date.fromisoformat(value["date"])
    return value


@dataclass(frozen=True)
class ArchivedKey:
    row: str
    wrapped_key: bytes
    kek_version: int


def store_case(connection: Connection, reference: str, protocol_key: str, at: datetime,
               job_id: str, rows: dict[str, list[dict[str, Any]]],
               keys: list[ArchivedKey]) -> None:
    """Write (or write again, on a resumed run) one case's bundle and its wrapped keys."""
    bundle = json.dumps({table: [{k: _encode(v) for k, v in row.items()} for row in table_rows]
                         for table, table_rows in rows.items()}, sort_keys=True)
    connection.execute(delete(archived_key).where(archived_key.c.reference == reference))
    connection.execute(delete(archived_case).where(archived_case.c.reference == reference))
    connection.execute(insert(archived_case).values(
        reference=reference, protocol_key=protocol_key, archived_at=at, job_id=job_id,
        bundle=bundle))
    if keys:
        connection.execute(insert(archived_key), [
            {"reference": reference, "row": key.row, "wrapped_key": key.wrapped_key,
             "kek_version": key.kek_version} for key in keys])


@dataclass(frozen=True)
class ArchivedCase:
    reference: str
    protocol_key: str
    archived_at: datetime
    rows: dict[str, list[dict[str, Any]]]
    keys: dict[str, ArchivedKey]


def load_case(connection: Connection, reference: str) -> ArchivedCase | None:
    """Return one archived case with its keys, or None."""
    found = connection.execute(
        select(archived_case).where(archived_case.c.reference == reference)).first()
    if found is None:
        return None
    raw = json.loads(found.bundle)
    rows = {table: [{k: _decode(v) for k, v in row.items()} for row in table_rows]
            for table, table_rows in raw.items()}
    keys = {row.row: ArchivedKey(row.row, row.wrapped_key, row.kek_version)
            for row in connection.execute(
                select(archived_key).where(archived_key.c.reference == reference))}
    return ArchivedCase(found.reference, found.protocol_key, found.archived_at, rows, keys)


def shred_keys(connection: Connection, reference: str) -> int:
    """Destroy an archived case's data keys (the first step of its purge)."""
    return connection.execute(
        delete(archived_key).where(archived_key.c.reference == reference)).rowcount


def delete_case(connection: Connection, reference: str) -> int:
    """Delete an archived case's bundle (after its keys)."""
    return connection.execute(
        delete(archived_case).where(archived_case.c.reference == reference)).rowcount


def references(connection: Connection) -> list[str]:
    return list(connection.scalars(select(archived_case.c.reference)))


def compact(engine: Engine) -> None:
    """SQLite: push the WAL into the file and empty it, so deleted bytes leave the disk."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
