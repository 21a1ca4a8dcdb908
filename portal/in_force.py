"""What is in force (the protocol version, the published notice), kept a few seconds per process.

Every page a professional opens asks which protocol version is in force and which transparency
notice is published; both change a few times a year. Asking the database each time costs a
sizeable share of a page, so the answer is kept per app and per process for `IN_FORCE_SECONDS`
(default 5).

Correctness rules:
- a write that changes what is in force calls `changed(session, name)`: that session bypasses
  the cache until it ends (it reads its own writes), and the cache is cleared at once and again
  when it commits (a read by another session in between may have put the old answer back);
  a rollback leaves the old answer, which is still right;
- another process (a second gunicorn worker, `portal protocol install` run from the shell)
  sees the change within `IN_FORCE_SECONDS`. A form opened in that window is filled against the
  previous version, which it records and always re-renders with, as it would had it been opened
  a few seconds earlier;
- what is kept is a copy of the row's column values, never an object of another session: each
  session gets its own instance, attached without a query.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

from portal.db import app_of, on_rollback

T = TypeVar("T")

_PENDING = "portal.in_force.changed"
_MISSING: Any = object()


def _caches(session: Session) -> dict[str, dict[Hashable, tuple[float, Any]]]:
    return app_of(session).extensions.setdefault("portal.in_force", {})


def cached(session: Session, name: str, key: Hashable,
           load: Callable[[Session], T | None]) -> T | None:
    """Return `load(session)`, or the instance it returned less than `IN_FORCE_SECONDS` ago."""
    if name in session.info.get(_PENDING, ()):
        return load(session)
    app = app_of(session)
    entries = _caches(session).setdefault(name, {})
    found = entries.get(key, _MISSING)
    now = time.monotonic()
    if found is not _MISSING and found[0] > now:
        return _attach(session, found[1])
    value = load(session)
    ttl = float(app.config["IN_FORCE_SECONDS"])
    entries[key] = (now + ttl, None if value is None else _snapshot(value))
    return value


def changed(session: Session, name: str) -> None:
    """Say that this session changed what `name` holds: it reads around the cache until it
    ends, and the cache is cleared now and again when it commits."""
    session.info.setdefault(_PENDING, set()).add(name)
    _caches(session).pop(name, None)


def _snapshot(instance: Any) -> tuple[type, dict[str, Any]]:
    state = inspect(instance)
    loaded = state.dict
    values = {attr.key: copy.deepcopy(loaded[attr.key])
              for attr in state.mapper.column_attrs if attr.key in loaded}
    return type(instance), values


def _attach(session: Session, snapshot: tuple[type, dict[str, Any]] | None) -> Any:
    if snapshot is None:
        return None
    cls, values = snapshot
    mapper: Mapper[Any] = inspect(cls)
    identity = mapper.identity_key_from_primary_key(
        tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key))
    present = session.identity_map.get(identity)
    if present is not None:
        return present
    instance = cls(**copy.deepcopy(values))
    # Known to the database already: attached as if just loaded (columns left out, such as a
    # deferred text, load on first use).
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


@event.listens_for(Session, "after_commit")
def _clear_after_commit(session: Session) -> None:
    names = session.info.pop(_PENDING, None)
    if names and "portal.app" in session.info:
        caches = _caches(session)
        for name in names:
            caches.pop(name, None)


@on_rollback
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
