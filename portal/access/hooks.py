"""The access area inside requests: who is acting, and expiry run lazily.

The authorizer behind `@requires` is installed by the accounts area (it also handles the login
steps); it asks `portal.access.policy.permissions_for` on every request, so an expired,
suspended or withdrawn grant is refused at the next request. Here, `expire` also runs at most
once per ACCESS_EXPIRE_INTERVAL_MINUTES in each process, before a request, so that ended grants
and inactive accounts are marked even if the daily `portal access expire` did not run.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask, current_app, request

from portal import clock
from portal.accounts.models import User
from portal.db import new_session

log = logging.getLogger(__name__)

_LAST_RUN = "portal.access.last_expire"
_LOCK = "portal.access.expire_lock"


def current_user_or_none() -> User | None:
    """Return the fully logged-in person of this request (both factors passed), or None."""
    from portal.accounts.sessions import load_state

    state = load_state()
    return state.user if state.full else None


def run_lazy_expiry(app: Flask) -> bool:
    """Run `expire` if it has not run in this process for the configured interval."""
    from portal.access.services import expire

    if not app.config["ACCESS_LAZY_EXPIRE"]:
        return False
    now = clock.now()
    interval = timedelta(minutes=float(app.config["ACCESS_EXPIRE_INTERVAL_MINUTES"]))
    last = app.extensions.get(_LAST_RUN)
    # A clock moved backwards (tests travelling in time) also triggers a run.
    if last is not None and last <= now < last + interval:
        return False
    lock: threading.Lock = app.extensions[_LOCK]
    if not lock.acquire(blocking=False):
        return False  # another thread of this process is running it
    try:
        app.extensions[_LAST_RUN] = now
        with new_session(app) as session:
            expire(session, now)
            session.commit()
        return True
    except Exception:  # noqa: BLE001 - the daily job catches up; the request goes on
        log.exception("lazy expiry failed")
        return False
    finally:
        lock.release()


def init_app(app: Flask) -> None:
    """Run expiry lazily before requests (the settings' defaults are in portal/config.py)."""
    app.extensions[_LOCK] = threading.Lock()

    @app.before_request
    def _lazy_expiry() -> None:
        if request.endpoint in (None, "static"):
            return
        run_lazy_expiry(current_app._get_current_object())  # type: ignore[attr-defined]
