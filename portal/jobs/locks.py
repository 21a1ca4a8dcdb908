"""One lock per duty in the database, so that two servers running `portal jobs run` at once
run each duty once.

- PostgreSQL: a session-level `pg_try_advisory_lock` on a connection of its own, held while
  the duty runs; the server releases it when that connection ends, so a runner that was
  killed leaves no lock behind.
- SQLite (the embedded default): a lease row in `job_lease`, taken by a conditional UPDATE that
  only one runner can win; a runner that was killed leaves its lease, which another runner
  takes over once it expired (`lease`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.db import get_engine, new_session
from portal.jobs.models import JobLease

#: prefix of the advisory-lock keys, so that the portal's locks do not meet another program's
LOCK_NAMESPACE = b"aac-portal/jobs/"


def advisory_key(job: str) -> int:
    """The signed 64-bit key of a duty's advisory lock."""
    digest = hashlib.sha256(LOCK_NAMESPACE + job.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def duty_lock(app: Flask, job: str, owner: str, lease: timedelta) -> Iterator[bool]:
    """Hold the lock of `job` for the block; yields False (and holds nothing) when another
    runner has it."""
    engine = get_engine(app)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            key = advisory_key(job)
            won = bool(connection.execute(select(func.pg_try_advisory_lock(key))).scalar())
            connection.commit()
            try:
                yield won
            finally:
                if won:
                    connection.execute(select(func.pg_advisory_unlock(key)))
                    connection.commit()
        return
    won = _take_lease(app, job, owner, lease)
    try:
        yield won
    finally:
        if won:
            _release_lease(app, job, owner)


def _take_lease(app: Flask, job: str, owner: str, lease: timedelta) -> bool:
    with new_session(app) as session:
        if session.get(JobLease, job) is None:
            try:
                session.add(JobLease(job=job))
                session.commit()
            except IntegrityError:
                session.rollback()  # another runner created it first
        now = clock.now()
        result = session.execute(
            update(JobLease)
            .where(JobLease.job == job,
                   or_(JobLease.owner.is_(None), JobLease.lease_until < now))
            .values(owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _release_lease(app: Flask, job: str, owner: str) -> None:
    with new_session(app) as session:
        session.execute(
            update(JobLease).where(JobLease.job == job, JobLease.owner == owner)
            .values(owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
