"""One records writer at a time on SQLite, queued instead of polling.

SQLite admits one writer; a second one waits in SQLite's busy handler, which sleeps in steps of
1, 2, 5, 10... 100 ms and so wastes most of its wait under load. Records writes on SQLite take
a blocking lock first (a file lock between worker processes, a thread lock inside one), so the
next writer starts the moment the previous one commits. PostgreSQL queues row locks itself.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

_thread_lock = threading.Lock()
_files: dict[str, int] = {}


def _lock_file(database: str) -> int:
    fd = _files.get(database)
    if fd is None:
        fd = os.open(f"{database}.records-lock", os.O_RDWR | os.O_CREAT, 0o600)
        _files[database] = fd
    return fd


@contextmanager
def one_writer(session: Session) -> Iterator[None]:
    """Hold the records write lock around a write and its commit (SQLite only)."""
    bind = session.get_bind()
    url = bind.engine.url
    database = url.database if bind.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with _thread_lock:
        fd = _lock_file(database)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
