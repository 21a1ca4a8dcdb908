"""Key-encryption key rotation: re-wrap every data key, never re-encrypt the data (SEC-CRY-1d).

`rotate_kek` adds a new KEK version to the key file (written atomically, mode 0400), then
re-wraps the data keys in batches, committing after each batch. Each row records the version
that wraps its key, so an interrupted run is resumed by running it again: it first finishes
the rows still on an older version before it would ever add another key. `retire_kek` removes
an old version from the key file once no row uses it.

The areas holding sealed rows register their tables (`register_wrapped_table`), so this module
imports none of them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.orm import Session

from portal.audit.services import record
from portal.db import Base, app_of, new_session, rows_affected
from portal.keys import KeyFileError, KeyRing, write_key_file
from portal.sealing.actions import SealingAction
from portal.sealing.envelope import IntegrityCheckFailed, WrappedKey, rewrap_data_key
from portal.sealing.key_checks import KeyCheck, check_keys_against_database
from portal.sealing.ring import ring_of

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500


@dataclass(frozen=True)
class WrappedTable:
    """A table whose rows hold a data key wrapped by a KEK, and how to rebuild its context."""

    name: str
    table: Table
    #: a SELECT of the row id, kek_version, wrapped_key and what the context needs
    query: Callable[[], Any]
    #: the wrap context (the row's associated data) from one row of `query`
    context: Callable[[Any], bytes]


_REGISTRY: dict[str, WrappedTable] = {}
#: (session, actor, target, **details): raises the alert and writes the audit entry
IntegrityReporter = Callable[..., None]
_REPORTERS: list[IntegrityReporter] = []


def register_wrapped_table(entry: WrappedTable) -> None:
    """Let an area's sealed table be re-wrapped by the rotation (records, rights answers)."""
    _REGISTRY[entry.name] = entry


def register_integrity_reporter(reporter: IntegrityReporter) -> None:
    """Say who raises the alert when a row's wrapped key fails authentication (records)."""
    _REPORTERS[:] = [reporter]


def _report_failure(session: Session, target: tuple[str, str]) -> None:
    if not _REPORTERS:
        log.error("integrity check failed on %s %s during a key rotation", *target)
        return
    _REPORTERS[0](session, None, target, during="kek_rotation")


@dataclass
class RotationReport:
    """What a rotation run did."""

    from_versions: set[int] = field(default_factory=set)
    to_version: int = 0
    added_key: bool = False
    rewrapped: dict[str, int] = field(default_factory=dict)
    #: rows whose key could not be unwrapped (altered): left as they are, alert raised
    failed: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rewrapped.values())


def rows_on_other_versions(session: Session, current: int) -> dict[str, int]:
    """Count, per registered table, the rows not wrapped by KEK `current`."""
    counts = {}
    for entry in _REGISTRY.values():
        column = entry.table.c.kek_version
        counts[entry.name] = session.scalar(
            select(func.count()).select_from(entry.table).where(column != current)
        ) or 0
    return counts


def rows_using(session: Session, version: int) -> dict[str, int]:
    """Count rows wrapped by KEK `version` in every table that has a `kek_version` column.

    Tables nobody registered for re-wrapping are counted too, so that a key is never retired
    while any area still needs it.
    """
    counts = {}
    for table in Base.metadata.sorted_tables:
        if "kek_version" in table.c:
            found = session.scalar(
                select(func.count()).select_from(table).where(table.c.kek_version == version)
            ) or 0
            if found:
                counts[table.name] = found
    return counts


def _add_kek(session: Session, ring: KeyRing) -> KeyRing:
    if ring.path is None:
        raise KeyFileError("the key ring was not read from a file: nowhere to add a key")
    version = max(ring.keks) + 1
    fresh = KeyRing(keks={**ring.keks, version: secrets.token_bytes(32)}, current_kek=version,
                    single=dict(ring.single), path=ring.path)
    _write(fresh)
    app = app_of(session)
    app.extensions["portal.keys"] = fresh
    # Record the new key's check value now (the same as a restart would).
    with new_session(app) as other:
        check_keys_against_database(other, fresh)
    return fresh


def _write(ring: KeyRing) -> None:
    assert ring.path is not None
    leftover = ring.path.with_name(ring.path.name + ".tmp")
    leftover.unlink(missing_ok=True)  # an interrupted earlier write
    write_key_file(ring.path, ring, overwrite=True)


def rotate_kek(session: Session, actor: Any, *, batch_size: int = DEFAULT_BATCH,
               progress: Callable[[str, int], None] | None = None) -> RotationReport:
    """Add a KEK version (unless a run is unfinished) and re-wrap every data key under it.

    Commits after each batch: an interruption loses at most one batch, and running it again
    resumes. Rows whose wrapped key fails authentication are left alone and reported.
    """
    ring = ring_of(session, force=True)
    report = RotationReport()
    pending = rows_on_other_versions(session, ring.current_kek)
    if not any(pending.values()):
        previous = ring.current_kek
        ring = _add_kek(session, ring)
        report.added_key = True
        report.from_versions.add(previous)
        record(session, actor, SealingAction.KEK_ROTATE, ("kek", f"v{ring.current_kek}"),
               step="key_added", previous=previous)
        session.commit()
    report.to_version = ring.current_kek
    for entry in _REGISTRY.values():
        report.rewrapped[entry.name] = _rewrap_table(session, ring, entry, batch_size, report,
                                                     progress)
    record(session, actor, SealingAction.KEK_ROTATE, ("kek", f"v{ring.current_kek}"),
           step="rewrapped", rows=report.total,
           failed=sum(len(ids) for ids in report.failed.values()))
    session.commit()
    return report


def _rewrap_table(session: Session, ring: KeyRing, entry: WrappedTable, batch_size: int,
                  report: RotationReport, progress: Callable[[str, int], None] | None) -> int:
    table = entry.table
    current = ring.current_kek
    done, last_id = 0, 0
    failed = report.failed.setdefault(entry.name, [])
    while True:
        rows = session.execute(
            entry.query()
            .where(and_(table.c.kek_version != current, table.c.id > last_id))
            .order_by(table.c.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        for row in rows:
            last_id = row.id
            context = entry.context(row)
            try:
                fresh = rewrap_data_key(ring, WrappedKey(row.kek_version, row.wrapped_key),
                                        context)
            except IntegrityCheckFailed:
                failed.append(row.id)
                continue
            report.from_versions.add(row.kek_version)
            # Guarded: a row changed meanwhile (a draft saved again) keeps its new key.
            result = session.execute(
                update(table)
                .where(table.c.id == row.id, table.c.kek_version == row.kek_version,
                       table.c.wrapped_key == row.wrapped_key)
                .values(wrapped_key=fresh.wrapped, kek_version=fresh.kek_version)
            )
            done += rows_affected(result)
        session.commit()
        if progress is not None:
            progress(entry.name, done)
    if failed:
        for row_id in failed:
            _report_failure(session, (entry.name, str(row_id)))
        session.commit()
    return done


def retire_kek(session: Session, actor: Any, version: int) -> None:
    """Remove KEK `version` from the key file and its check value from the database.

    :raises KeyFileError: it is the current key, it is unknown, or rows still use it.
    """
    ring = ring_of(session, force=True)
    if version == ring.current_kek:
        raise KeyFileError(f"key-encryption key {version} is the current one: rotate first")
    if version not in ring.keks:
        raise KeyFileError(f"the key file has no key-encryption key version {version}")
    using = rows_using(session, version)
    if using:
        detail = ", ".join(f"{name}: {count}" for name, count in sorted(using.items()))
        raise KeyFileError(f"key-encryption key {version} still wraps data keys ({detail}); "
                           "run the rotation again first")
    fresh = KeyRing(keks={v: k for v, k in ring.keks.items() if v != version},
                    current_kek=ring.current_kek, single=dict(ring.single), path=ring.path)
    stale = session.get(KeyCheck, f"kek:{version}")
    if stale is not None:
        session.delete(stale)
    record(session, actor, SealingAction.KEK_RETIRE, ("kek", f"v{version}"),
           current=ring.current_kek)
    session.flush()
    _write(fresh)
    app_of(session).extensions["portal.keys"] = fresh
