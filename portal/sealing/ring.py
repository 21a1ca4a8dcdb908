"""The app's key ring, reloaded when a key rotation rewrote the key file."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from sqlalchemy.orm import Session

from portal.db import app_of
from portal.keys import KeyFileError, KeyRing, load_key_file
from portal.sealing.envelope import open_value

log = logging.getLogger(__name__)

#: how often a worker looks at the key file's modification time (seconds)
RING_CHECK_INTERVAL = 2.0
#: where the app keeps when it last looked (the key name predates this package)
_STATE = "records.ring_state"

_ring_lock = threading.Lock()


def ring_of(session: Session, *, force: bool = False) -> KeyRing:
    """Return the app's key ring, reloaded when `portal keys rotate` rewrote the key file.

    Workers started before a rotation pick up the new key-encryption key within a few seconds,
    so they wrap new data keys with it and can unwrap keys already re-wrapped.
    """
    app = app_of(session)
    ring: KeyRing = app.extensions["portal.keys"]
    if ring.path is None:
        return ring
    state = app.extensions.setdefault(_STATE, {"checked": 0.0, "mtime": None})
    now = time.monotonic()
    if not force and now - state["checked"] < RING_CHECK_INTERVAL:
        return ring
    with _ring_lock:
        state["checked"] = now
        try:
            mtime = os.stat(ring.path).st_mtime_ns
        except OSError:
            return ring
        if state["mtime"] is None and not force:
            state["mtime"] = mtime
            return ring
        if mtime == state["mtime"] and not force:
            return ring
        try:
            fresh = load_key_file(ring.path)
        except KeyFileError as exc:
            log.error("key file changed but cannot be read; keeping the loaded keys: %s", exc)
            return ring
        if fresh.single != ring.single or any(
            ring.keks.get(v, k) != k for v, k in fresh.keks.items()
        ):
            log.error("key file %s changed keys other than adding a KEK; keeping the loaded "
                      "keys", ring.path)
            return ring
        state["mtime"] = mtime
        app.extensions["portal.keys"] = fresh
        return fresh


def open_with_refresh(session: Session, aad: bytes, payload: bytes, wrapped_key: bytes,
                      kek_version: int) -> Any:
    """Open a sealed value, reloading the key file once if the KEK version is unknown."""
    ring = ring_of(session)
    if kek_version not in ring.keks:
        ring = ring_of(session, force=True)
    return open_value(ring, aad, payload, wrapped_key, kek_version)
