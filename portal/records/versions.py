"""Protocol versions as the records use them: found without their text, parsed once."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from portal.in_force import cached
from portal.protocols.loader import LoadedProtocol
from portal.protocols.models import ProtocolVersion
from portal.protocols.services import VERSION_IN_FORCE, loaded

_parsed: dict[tuple[int, str], LoadedProtocol] = {}
_lock = threading.Lock()


def in_force(session: Session, protocol_key: str) -> ProtocolVersion | None:
    """Return the version in force of a protocol, without loading its definition text.

    Kept a few seconds per process (`portal.in_force`); installing a version clears it.
    """
    return cached(session, VERSION_IN_FORCE, protocol_key,
                  lambda db: _query_in_force(db, protocol_key))


def _query_in_force(session: Session, protocol_key: str) -> ProtocolVersion | None:
    return session.scalar(
        select(ProtocolVersion).options(defer(ProtocolVersion.source_text))
        .where(ProtocolVersion.protocol_key == protocol_key,
               ProtocolVersion.is_current.is_(True))
        .order_by(ProtocolVersion.id.desc()).limit(1)
    )


def protocol_of(version: ProtocolVersion) -> LoadedProtocol:
    """Return the parsed definition of a version (its text is read on first use only)."""
    key = (version.id, version.content_hash)
    found = _parsed.get(key)
    if found is None:
        with _lock:
            found = _parsed.get(key)
            if found is None:
                found = _parsed[key] = loaded(version)
    return found
