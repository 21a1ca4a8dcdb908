"""Backups: sealed snapshots of the database, their verification, restore and rotation.

A backup file is one sealed stream (portal/sealing/stream.py) under the key file's backup key.
Its plaintext, never written to disk, is:

    manifest length (4 bytes, big-endian) || manifest (JSON) || dump

The dump is `pg_dump -Fc` output taken in the same repeatable-read snapshot as the manifest's
counts (PostgreSQL), or the SQLite database file as the online backup API copied it. The
manifest records the schema revision, the rows of every table, the audit chain head, the key
check values of the data and the creation time.

Restoring and verifying read the file twice: a first pass authenticates every chunk (a file
altered anywhere, cut short, reordered or sealed under another key is refused before anything
is written), the second one restores. PostgreSQL restores in one transaction and SQLite into a
new file renamed at the end, so a failure leaves the target as it was.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from portal import clock
from portal.audit.services import record
from portal.audit.verify import verify as verify_chain
from portal.backups.actions import BackupAction
from portal.backups.models import BackupRun
from portal.db import get_engine, make_engine, new_session
from portal.keys import KeyRing
from portal.retention.models import PurgeLedgerEntry
from portal.retention.services import purge_ledger, reapply_purge_ledger
from portal.sealing import sealed_stream as stream

MANIFEST_KIND = "aac-portal-backup"
MANIFEST_VERSION = 1
CONTENT = "aac-portal-backup"
SUFFIX = ".aacbak"
PREFIX = "portal-"
KEY_ID = "backup"
SQLITE_DUMP = "sqlite-database"
PG_DUMP = "pg_dump-custom"


class BackupError(Exception):
    """A backup operation was refused or failed; the message is one sentence."""


@dataclass
class Manifest:
    """What a backup holds, as recorded when it was made."""

    created_at: datetime
    dialect: str
    dump: str
    schema_revision: str | None
    row_counts: dict[str, int]
    audit_head: dict[str, Any]
    key_checks: dict[str, str]

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "kind": MANIFEST_KIND,
                "version": MANIFEST_VERSION,
                "created_at": self.created_at.isoformat(),
                "dialect": self.dialect,
                "dump": self.dump,
                "schema_revision": self.schema_revision,
                "row_counts": self.row_counts,
                "audit_head": self.audit_head,
                "key_checks": self.key_checks,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        if data.get("kind") != MANIFEST_KIND or data.get("version") != MANIFEST_VERSION:
            raise ValueError("not a backup manifest")
        return cls(
            created_at=datetime.fromisoformat(data["created_at"]),
            dialect=data["dialect"],
            dump=data["dump"],
            schema_revision=data["schema_revision"],
            row_counts={str(k): int(v) for k, v in data["row_counts"].items()},
            audit_head=dict(data["audit_head"]),
            key_checks=dict(data["key_checks"]),
        )

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


# --- settings and paths -------------------------------------------------------------------------


def backup_dir(app: Flask) -> Path:
    """The directory backups are written to and pruned in."""
    configured = str(app.config.get("BACKUP_DIR") or "").strip()
    return Path(configured) if configured else Path(app.instance_path) / "backups"


def _ring(app: Flask) -> KeyRing:
    return app.extensions["portal.keys"]


def _file_name(at: datetime) -> str:
    return f"{PREFIX}{at:%Y%m%dT%H%M%S%f}Z{SUFFIX}"


def file_time(name: str) -> datetime | None:
    """The creation time a backup file's name carries, None for another file."""
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    stamp = name[len(PREFIX) : -len(SUFFIX)]
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=clock.now().tzinfo)
    except ValueError:
        return None


def backup_files(directory: Path) -> list[Path]:
    """The backup files of `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = [(file_time(p.name), p) for p in directory.iterdir() if p.is_file()]
    return [p for at, p in sorted((a, p) for a, p in found if a is not None)]


# --- describing a snapshot ----------------------------------------------------------------------


def _describe(connection: Connection, dialect: str, dump: str) -> Manifest:
    """Count every table and read the audit head and key checks, in the caller's snapshot."""
    names = sorted(inspect(connection).get_table_names())
    counts = {
        name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
        for name in names
    }
    revision = None
    if "alembic_version" in names:
        revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
    head: dict[str, Any] = {"seq": 0, "hash": ""}
    if "audit_head" in names:
        row = connection.execute(text("SELECT seq, last_hash FROM audit_head")).first()
        if row is not None:
            head = {"seq": int(row[0]), "hash": bytes(row[1]).hex()}
    checks: dict[str, str] = {}
    if "key_check" in names:
        checks = {
            str(k): str(v)
            for k, v in connection.execute(text("SELECT key_id, check_value FROM key_check"))
        }
    return Manifest(clock.now(), dialect, dump, revision, counts, head, checks)


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError("only a SQLite database held in a file can be backed up or restored.")
    return Path(url.database)


def _connection_engine(connection: sqlite3.Connection) -> Engine:
    return create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, which goes in the environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


class _Process:
    """A child process whose error output is drained aside (a full pipe would block it)."""

    def __init__(self, argv: list[str], env: dict[str, str], *, stdin: bool) -> None:
        try:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if stdin else subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError:
            raise BackupError(f"{argv[0]} is not installed (the PostgreSQL client).") from None
        self._errors: list[bytes] = []
        self._drain = threading.Thread(target=self._read_errors, daemon=True)
        self._drain.start()

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._errors.append(line)

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait()
        self._drain.join()
        lines = [x.decode(errors="replace").strip() for x in self._errors if x.strip()]
        return code, lines[-1] if lines else ""

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self._drain.join()


@contextmanager
def _snapshot(engine: Engine, chunk: int) -> Iterator[tuple[Manifest, Iterator[bytes]]]:
    """The manifest and the dump's bytes of one consistent snapshot of the live database."""
    if engine.dialect.name == "sqlite":
        path = _sqlite_path(engine.url)
        # The snapshot is a file beside the live database (same owner, same trust; 0700 folder,
        # removed at the end), so memory stays bounded by one chunk whatever the database's size.
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".backup-snapshot-") as folder:
            copy = Path(folder) / "snapshot.db"
            source = sqlite3.connect(str(path))
            target = sqlite3.connect(str(copy), check_same_thread=False)
            try:
                # One step: the copy is of one moment even while the portal writes.
                source.backup(target)
                with _connection_engine(target).connect() as connection:
                    manifest = _describe(connection, "sqlite", SQLITE_DUMP)
            finally:
                source.close()
                target.close()
            with copy.open("rb") as dump:
                yield manifest, iter(lambda: dump.read(chunk), b"")
        return
    if engine.dialect.name != "postgresql":
        raise BackupError(f"the {engine.dialect.name} database cannot be backed up.")
    conninfo, env = _libpq(engine.url)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        with connection.begin():
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            manifest = _describe(connection, "postgresql", PG_DUMP)
            dumper = _Process(
                [
                    "pg_dump",
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--no-password",
                    f"--dbname={conninfo}",
                ],
                env,
                stdin=False,
            )
            out = dumper.proc.stdout
            assert out is not None
            try:
                yield manifest, iter(lambda: out.read(chunk), b"")
            except BaseException:
                dumper.kill()
                raise
            code, last = dumper.finish()
            if code != 0:
                raise BackupError(f"pg_dump failed: {last or f'exit status {code}'}.")


# --- create ------------------------------------------------------------------------------------


@dataclass
class Created:
    path: Path
    size: int
    manifest: Manifest
    copy_result: str
    #: False when an off-host copy hook failed (the backup itself is kept)
    copy_ok: bool = True


def _discard(path: Path) -> None:
    with suppress(OSError):
        path.unlink()


def _open_exclusive(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def write_backup(app: Flask, target: Path) -> Manifest:
    """Seal a snapshot of the app's database into the new file `target`; returns its manifest."""
    ring = _ring(app)
    chunk = int(app.config["BACKUP_CHUNK_SIZE"])
    with _open_exclusive(target) as out:
        writer = stream.Writer(
            out,
            ring.key(KEY_ID),
            key_id=KEY_ID,
            key_check=ring.check_values()[KEY_ID],
            content=CONTENT,
            chunk_size=chunk,
        )
        with _snapshot(get_engine(app), chunk) as (manifest, dump):
            body = manifest.as_json()
            writer.write(struct.pack(">I", len(body)) + body)
            for part in dump:
                writer.write(part)
        writer.close()
        out.flush()
        os.fsync(out.fileno())
    return manifest


def create_backup(app: Flask, operator: Any, output: Path | None = None) -> Created:
    """Make a backup file in `output` (default BACKUP_DIR), copy it off the host, record it."""
    directory = output or backup_dir(app)
    final = directory / _file_name(clock.now())
    partial = final.with_name(final.name + ".partial")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        manifest = write_backup(app, partial)
        os.replace(partial, final)
    except OSError as exc:
        _discard(partial)
        raise BackupError(f"{directory} cannot be written: {exc.strerror or exc}.") from None
    except BaseException:
        _discard(partial)
        raise
    size = final.stat().st_size
    copied, copy_ok = copy_off_host(app, final)
    with new_session(app) as session:
        session.add(
            BackupRun(
                file_name=final.name,
                created_at=manifest.created_at,
                size=size,
                dialect=manifest.dialect,
                schema_revision=manifest.schema_revision,
                audit_head_seq=int(manifest.audit_head["seq"]),
                total_rows=manifest.total_rows,
                copy_result=copied,
            )
        )
        record(
            session,
            operator,
            BackupAction.BACKUP_CREATE,
            ("backup", final.name[:64]),
            size=size,
            rows=manifest.total_rows,
            head=int(manifest.audit_head["seq"]),
        )
        session.commit()
    return Created(final, size, manifest, copied, copy_ok)


def copy_off_host(app: Flask, path: Path) -> tuple[str, bool]:
    """Run the off-host copy hook(s); returns what happened in one line (empty: no hook) and
    whether every hook succeeded."""
    done: list[str] = []
    ok = True
    directory = str(app.config.get("BACKUP_COPY_DIR") or "").strip()
    if directory:
        target = Path(directory) / path.name
        partial = target.with_name(target.name + ".partial")
        try:
            shutil.copyfile(path, partial)
            os.replace(partial, target)
            done.append(f"copied to {target}")
        except OSError as exc:
            _discard(partial)
            ok = False
            done.append(f"copy to {directory} failed: {exc.strerror or exc}")
    command = str(app.config.get("BACKUP_COPY_COMMAND") or "").strip()
    if command:
        try:
            finished = subprocess.run(
                [*shlex.split(command), str(path)], capture_output=True, timeout=3600, check=False
            )
            ok = ok and finished.returncode == 0
            done.append(
                "copy command succeeded"
                if finished.returncode == 0
                else f"copy command failed with exit status {finished.returncode}"
            )
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            ok = False
            done.append(f"copy command failed: {exc}")
    return "; ".join(done), ok


# --- reading a backup file ---------------------------------------------------------------------


class _Reader:
    """A backup file opened for one pass: the manifest, then the dump's authenticated bytes."""

    def __init__(self, path: Path, ring: KeyRing) -> None:
        self.name = path.name
        try:
            self._file = path.open("rb")
        except OSError as exc:
            raise BackupError(f"{path} cannot be read: {exc.strerror or exc}.") from None
        try:
            header = stream.read_header(self._file)
        except stream.StreamError as exc:
            self._file.close()
            raise BackupError(f"{self.name} is refused: {exc}") from None
        mine = ring.check_values()[KEY_ID]
        if header.key_id != KEY_ID or header.key_check != mine:
            self._file.close()
            raise BackupError(
                f"{self.name} is refused: it was sealed with another backup key (key check "
                f"value {header.key_check[:12]}, this key file's is {mine[:12]})."
            )
        self._chunks = stream.read_chunks(self._file, ring.key(KEY_ID), header)
        self._pending = b""
        self.manifest = self._read_manifest()

    def _next(self) -> bytes:
        try:
            return next(self._chunks)
        except stream.StreamError as exc:
            raise BackupError(f"{self.name} is refused: {exc}") from None

    def _read_manifest(self) -> Manifest:
        buffer = b""
        while len(buffer) < 4:
            part = self._next_or_end()
            if part is None:
                break
            buffer += part
        size = struct.unpack(">I", buffer[:4])[0] if len(buffer) >= 4 else -1
        while 0 <= size and len(buffer) < 4 + size:
            part = self._next_or_end()
            if part is None:
                break
            buffer += part
        try:
            if size < 0 or len(buffer) < 4 + size:
                raise ValueError("short")
            manifest = Manifest.from_json(buffer[4 : 4 + size])
        except (ValueError, KeyError, TypeError):
            raise BackupError(f"{self.name} is refused: its manifest is unreadable.") from None
        self._pending = buffer[4 + size :]
        return manifest

    def _next_or_end(self) -> bytes | None:
        try:
            return self._next()
        except StopIteration:
            return None

    def dump(self) -> Iterator[bytes]:
        """The dump's bytes, each piece authenticated; raises BackupError on a bad chunk."""
        try:
            if self._pending:
                yield self._pending
            while True:
                part = self._next_or_end()
                if part is None:
                    return
                yield part
        finally:
            self._file.close()

    def close(self) -> None:
        self._file.close()


def authenticate(path: Path, ring: KeyRing) -> Manifest:
    """Authenticate every chunk of a backup file; returns its manifest or raises BackupError."""
    reader = _Reader(path, ring)
    for _ in reader.dump():
        pass
    return reader.manifest


def _check_keys(manifest: Manifest, ring: KeyRing, name: str) -> None:
    mine = ring.check_values()
    differing = sorted(k for k, v in manifest.key_checks.items() if k in mine and mine[k] != v)
    missing = sorted(k for k in manifest.key_checks if k not in mine)
    if differing or missing:
        raise BackupError(
            f"{name} is refused: its data was written under keys this key file does not hold "
            f"({', '.join(differing + missing)}); use the key file of the backed-up portal."
        )


# --- restoring ---------------------------------------------------------------------------------


def _empty_postgres(engine: Engine) -> bool:
    with engine.connect() as connection:
        return not connection.scalar(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
            )
        )


def _empty_sqlite(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            return not connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError:
        return False  # something that is not an empty database: never overwritten


def _pg_restore(url: URL, dump: Iterator[bytes]) -> None:
    """Feed the dump to pg_restore in one transaction; any failure rolls all of it back."""
    conninfo, env = _libpq(url)
    restore = _Process(
        [
            "pg_restore",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--no-password",
            f"--dbname={conninfo}",
        ],
        env,
        stdin=True,
    )
    stdin = restore.proc.stdin
    assert stdin is not None
    try:
        for part in dump:
            stdin.write(part)
    except BrokenPipeError:
        pass  # pg_restore stopped: its exit status says why
    except BaseException:
        # Killed before it read the end of its input, pg_restore never commits.
        restore.kill()
        raise
    with suppress(BrokenPipeError):
        stdin.close()
    code, last = restore.finish()
    if code != 0:
        raise BackupError(f"pg_restore failed, nothing was restored: {last or code}.")


def _sqlite_restore(path: Path, dump: Iterator[bytes]) -> None:
    """Write the database to a new file beside `path`, check it, then rename it into place."""
    partial = path.with_name(f".{path.name}.restoring-{secrets.token_hex(4)}")
    try:
        with _open_exclusive(partial) as out:
            for part in dump:
                out.write(part)
            out.flush()
            os.fsync(out.fileno())
        with sqlite3.connect(str(partial)) as connection:
            if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError("the restored SQLite database fails its integrity check.")
        connection.close()
        os.replace(partial, path)
    except OSError as exc:
        _discard(partial)
        raise BackupError(f"{path} cannot be written: {exc.strerror or exc}.") from None
    except BaseException:
        _discard(partial)
        raise


@dataclass
class Restored:
    manifest: Manifest
    purged_again: int = 0
    notes: list[str] = field(default_factory=list)


def restore_backup(app: Flask, path: Path, database_url: str, operator: Any) -> Restored:
    """Restore a backup file into the empty database `database_url`, then audit it there.

    :raises BackupError: the file is refused (nothing written), the target is not empty, or
        the restore failed (the target is left as it was).
    """
    ring = _ring(app)
    # One pass: each chunk is authenticated as it is restored. A bad chunk stops the restore
    # before its end, and neither restore leaves anything then (SQLite: a new file renamed into
    # place only once whole and checked; PostgreSQL: one transaction, which pg_restore never
    # commits when its input stops short).
    reader = _Reader(path, ring)
    try:
        manifest = reader.manifest
        _check_keys(manifest, ring, path.name)
        return _restore_from(app, reader, path, manifest, database_url, operator)
    finally:
        reader.close()


def _restore_from(app: Flask, reader: _Reader, path: Path, manifest: Manifest,
                  database_url: str, operator: Any) -> Restored:
    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises several kinds for a bad URL
        raise BackupError(f"{database_url!r} is not a database URL.") from None
    backend = url.get_backend_name()
    if (backend == "sqlite") != (manifest.dump == SQLITE_DUMP):
        raise BackupError(
            f"{path.name} holds a {manifest.dialect} database: it restores into "
            f"{manifest.dialect} only, not {backend}."
        )
    if backend == "sqlite":
        target = _sqlite_path(url)
        if not _empty_sqlite(target):
            raise BackupError(
                f"the target database {target} is not empty: a backup restores "
                "into an empty database only."
            )
        _sqlite_restore(target, reader.dump())
        engine = make_engine(database_url)
    else:
        engine = make_engine(database_url)
        try:
            empty = _empty_postgres(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise BackupError(f"the target database cannot be reached: {_reason(exc)}.") from None
        if not empty:
            engine.dispose()
            raise BackupError(
                f"the target database {url.database} is not empty: a backup "
                "restores into an empty database only."
            )
        _pg_restore(url, reader.dump())
    try:
        return _after_restore(app, engine, manifest, path.name, operator)
    finally:
        engine.dispose()


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else "error"


def _session_on(app: Flask, engine: Engine) -> Session:
    from portal.records import attach_engine

    attach_engine(app, engine)
    session = Session(bind=engine, expire_on_commit=False)
    session.info["portal.app"] = app
    return session


def _live_ledger(app: Flask) -> list[dict[str, Any]] | None:
    """The purge ledger of the portal's own database (newer than any backup), None when it
    cannot be read (the database is lost: only the backup's own ledger can be applied)."""
    columns = [c.key for c in PurgeLedgerEntry.__table__.columns if c.key != "id"]
    try:
        with new_session(app) as session:
            return [{c: getattr(e, c) for c in columns} for e in purge_ledger(session)]
    except SQLAlchemyError:
        return None


def _after_restore(
    app: Flask, engine: Engine, manifest: Manifest, name: str, operator: Any
) -> Restored:
    """Bring the restored database's purge ledger up to date, purge again, audit the restore."""
    result = Restored(manifest)
    live = _live_ledger(app)
    try:
        with _session_on(app, engine) as session:
            if live is None:
                result.notes.append(
                    "the portal's own database could not be read: only the purges recorded "
                    "in the backup were applied again"
                )
            else:
                known = {e.reference for e in purge_ledger(session)}
                session.add_all(
                    PurgeLedgerEntry(**entry) for entry in live if entry["reference"] not in known
                )
                session.flush()
            result.purged_again = len(reapply_purge_ledger(session, operator))
            record(
                session,
                operator,
                BackupAction.DATABASE_RESTORE,
                ("backup", name[:64]),
                head=int(manifest.audit_head["seq"]),
                purged_again=result.purged_again,
            )
            session.commit()
    except SQLAlchemyError as exc:
        raise BackupError(
            f"the database was restored but the purge ledger could not be applied again "
            f"({_reason(exc)}): run `portal retention reapply-ledger` on it before anyone "
            "uses it."
        ) from None
    return result


# --- verifying ---------------------------------------------------------------------------------


@dataclass
class Verified:
    ok: bool
    message: str
    manifest: Manifest | None = None
    opened: int = 0


@contextmanager
def _scratch(app: Flask, manifest: Manifest, reader: _Reader) -> Iterator[Engine]:
    """The backup restored into a scratch database, dropped afterwards."""
    if manifest.dump == SQLITE_DUMP:
        # A file in the instance folder (where the live database lives, 0700 folder, removed
        # at the end), so memory stays bounded by one chunk whatever the backup's size.
        Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=app.instance_path,
                                         prefix=".backup-scratch-") as folder:
            copy = Path(folder) / "scratch.db"
            with _open_exclusive(copy) as out:
                for part in reader.dump():
                    out.write(part)
            engine = create_engine(f"sqlite:///{copy}", poolclass=StaticPool)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    server = str(app.config.get("BACKUP_SCRATCH_URL") or "").strip()
    base = make_url(server) if server else get_engine(app).url
    if base.get_backend_name() != "postgresql":
        raise BackupError(
            f"{reader.name} holds a PostgreSQL dump: set BACKUP_SCRATCH_URL to a "
            "PostgreSQL server where verify may create a scratch database."
        )
    name = f"{(base.database or 'portal')[:40]}_verify_{secrets.token_hex(6)}"
    admin = create_engine(
        base.set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
        poolclass=StaticPool,
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        raise BackupError(f"verify cannot create its scratch database: {_reason(exc)}.") from None
    scratch_url = base.set(drivername="postgresql+psycopg", database=name)
    engine = make_engine(scratch_url.render_as_string(hide_password=False))
    try:
        _pg_restore(scratch_url, reader.dump())
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _open_sample(session: Session, operator: Any, size: int) -> int:
    """Open every revision of a sample of submitted forms (first, last and random ones),
    through the records door: one read entry, purpose `backup_drill`, in the scratch copy."""
    from portal.records.models import Submission
    from portal.records.reading import Purpose, bulk_read

    ids = list(session.scalars(select(Submission.id).where(Submission.status == "submitted")
                               .order_by(Submission.id)))
    if not ids:
        return 0
    chosen = {ids[0], ids[-1]}
    pick = secrets.SystemRandom()
    chosen.update(pick.sample(ids, min(size, len(ids))))
    opened = 0
    with bulk_read(session, operator, Purpose.BACKUP_DRILL, job="backup_verify") as job:
        for submission_id in sorted(chosen):
            submission = session.get(Submission, submission_id)
            assert submission is not None
            for revision in submission.revisions:
                job.submission_values(submission, number=revision.number)
                opened += 1
    return opened


def verify_backup(app: Flask, path: Path, operator: Any) -> Verified:
    """Authenticate, restore into a scratch database and check a backup; record the result."""
    try:
        result = _verify(app, path, operator)
    except BackupError as exc:
        result = Verified(False, str(exc))
    _record_verification(app, path, result, operator)
    return result


def _verify(app: Flask, path: Path, operator: Any) -> Verified:
    ring = _ring(app)
    manifest = authenticate(path, ring)
    _check_keys(manifest, ring, path.name)
    name = path.name
    with _scratch(app, manifest, _Reader(path, ring)) as engine:
        with engine.connect() as connection:
            found = _describe(connection, manifest.dialect, manifest.dump)
        differing = sorted(
            t
            for t in set(found.row_counts) | set(manifest.row_counts)
            if found.row_counts.get(t) != manifest.row_counts.get(t)
        )
        if differing:
            t = differing[0]
            return Verified(
                False,
                f"{name} fails: table {t} holds {found.row_counts.get(t)} "
                f"rows where the manifest says {manifest.row_counts.get(t)}.",
                manifest,
            )
        if found.audit_head != manifest.audit_head:
            return Verified(
                False,
                f"{name} fails: its audit chain head is not the one its manifest recorded.",
                manifest,
            )
        with _session_on(app, engine) as session:
            chain = verify_chain(session)
            if not chain.ok:
                assert chain.problem is not None
                return Verified(
                    False,
                    f"{name} fails: its audit chain breaks at entry "
                    f"{chain.problem.seq} ({chain.problem.reason}).",
                    manifest,
                )
            try:
                opened = _open_sample(session, operator, int(app.config["BACKUP_VERIFY_SAMPLE"]))
            except Exception as exc:  # noqa: BLE001 - any failure to open is the finding
                return Verified(
                    False,
                    f"{name} fails: a submission of the restored copy "
                    f"cannot be opened ({type(exc).__name__}).",
                    manifest,
                )
            session.rollback()
    return Verified(
        True,
        f"{name} verified: {manifest.total_rows} rows in "
        f"{len(manifest.row_counts)} tables, audit chain intact up to entry "
        f"{manifest.audit_head['seq']}, {opened} submission revisions opened.",
        manifest,
        opened,
    )


def _record_verification(app: Flask, path: Path, result: Verified, operator: Any) -> None:
    with new_session(app) as session:
        run = session.scalars(select(BackupRun).where(BackupRun.file_name == path.name)).first()
        if run is None and result.manifest is not None:
            manifest = result.manifest
            run = BackupRun(
                file_name=path.name,
                created_at=manifest.created_at,
                size=path.stat().st_size,
                dialect=manifest.dialect,
                schema_revision=manifest.schema_revision,
                audit_head_seq=int(manifest.audit_head["seq"]),
                total_rows=manifest.total_rows,
                copy_result="",
            )
            session.add(run)
        if run is not None:
            run.verified_at = clock.now()
            run.verified_ok = result.ok
            run.verify_message = result.message
        record(
            session,
            operator,
            BackupAction.BACKUP_VERIFY,
            ("backup", path.name[:64]),
            outcome="success" if result.ok else "failure",
        )
        session.commit()


# --- listing, monitoring, rotation -------------------------------------------------------------


def list_runs(session: Session, limit: int = 100) -> list[BackupRun]:
    """The recorded backups, newest first."""
    return list(
        session.scalars(select(BackupRun).order_by(BackupRun.created_at.desc()).limit(limit))
    )


def latest_file(app: Flask) -> Path | None:
    files = backup_files(backup_dir(app))
    return files[-1] if files else None


@dataclass
class Status:
    ok: bool
    message: str


def verification_status(session: Session, max_age: timedelta) -> Status:
    """Whether the newest successfully verified backup is recent enough (monitoring)."""
    run = session.scalars(
        select(BackupRun)
        .where(BackupRun.verified_ok.is_(True))
        .order_by(BackupRun.created_at.desc())
        .limit(1)
    ).first()
    if run is None:
        return Status(False, "no backup has passed verification yet.")
    age = clock.now() - run.created_at
    hours = int(age.total_seconds() // 3600)
    if age > max_age:
        return Status(
            False,
            f"the newest verified backup, {run.file_name}, is {hours} hours "
            f"old (more than {int(max_age.total_seconds() // 3600)}).",
        )
    return Status(True, f"the newest verified backup, {run.file_name}, is {hours} hours old.")


def choose_kept(times: list[datetime], daily: int, weekly: int, monthly: int) -> set[datetime]:
    """Grandfather-father-son rotation: the newest backup of each of the last N days, ISO
    weeks and months that have one (counted from the newest backup, not from today)."""
    kept: set[datetime] = set()
    for count, period in (
        (daily, lambda d: d),
        (weekly, lambda d: d.isocalendar()[:2]),
        (monthly, lambda d: (d.year, d.month)),
    ):
        seen: list[Any] = []
        for at in sorted(times, reverse=True):
            key = period(at.date())
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(key)
            kept.add(at)
    return kept


@dataclass
class Pruned:
    kept: list[str]
    deleted: list[str]


def prune(app: Flask, operator: Any, directory: Path | None = None) -> Pruned:
    """Delete the backup files the rotation does not keep, and mark them in the database."""
    directory = directory or backup_dir(app)
    files = {file_time(p.name): p for p in backup_files(directory)}
    kept_times = choose_kept(
        [t for t in files if t is not None],
        int(app.config["BACKUP_KEEP_DAILY"]),
        int(app.config["BACKUP_KEEP_WEEKLY"]),
        int(app.config["BACKUP_KEEP_MONTHLY"]),
    )
    deleted = [p for t, p in sorted(files.items()) if t not in kept_times]
    for path in deleted:
        path.unlink(missing_ok=True)
    now = clock.now()
    with new_session(app) as session:
        names = [p.name for p in deleted]
        if names:
            for run in session.scalars(select(BackupRun).where(BackupRun.file_name.in_(names))):
                run.pruned_at = now
        record(
            session,
            operator,
            BackupAction.BACKUP_PRUNE,
            None,
            deleted=len(deleted),
            kept=len(kept_times),
        )
        session.commit()
    return Pruned(sorted(files[t].name for t in kept_times), [p.name for p in deleted])
