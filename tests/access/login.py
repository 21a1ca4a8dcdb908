"""Logging a test client in as a person, the way a completed login leaves the session.

The accounts area's session store is used as it is: a `UserSession` record whose second
factor is passed, and its random id in the Flask session. (Switch to tests/helpers_auth.py,
which goes through the real login forms, where a test is about logging in itself.)
"""

from __future__ import annotations

import secrets

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts import sessions
from portal.accounts.models import User, UserSession
from portal.permissions import _deny_all


def ensure_authorizer(app: Flask) -> None:
    """Install the accounts area's authorizer when its init_app has not done it yet."""
    if app.extensions.get("portal.authorizer") in (None, _deny_all):
        from portal.accounts import authorization

        authorization.init_app(app)


def log_in(client: FlaskClient, session: Session, user: User) -> UserSession:
    """Open a fully authenticated session for `user` in `client` (commits)."""
    raw = secrets.token_urlsafe(32)
    now = clock.now()
    record = UserSession(id_hash=sessions.hash_id(raw), user_id=user.id, created_at=now,
                         last_seen_at=now, mfa_at=now)
    session.add(record)
    session.commit()
    with client.session_transaction() as flask_session:
        flask_session.clear()
        flask_session[sessions.SESSION_KEY] = raw
    return record
