"""Server-side sessions (SEC-SES-1 to 3): the cookie carries only a random id.

The Flask session cookie holds a 256-bit random id (`secrets.token_urlsafe(32)`); the database
keeps its SHA-256 in `UserSession.id_hash`. Every request looks the record up and checks it:
not revoked, account not disabled, idle for at most 30 minutes, at most 12 hours old. A record
whose second factor is still missing (`mfa_at` NULL) is the "password OK, code pending" state: it
never authenticates anyone and expires after 5 minutes. Logging in and passing the second factor
each start a new record under a new id after clearing the Flask session (which also drops the
CSRF token, so it rotates); logging out revokes the record, so a copied cookie stops working.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import g
from flask import session as flask_session
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.models import User, UserSession
from portal.db import get_engine, get_session, rows_affected

#: the Flask session key holding the random session id
SESSION_KEY = "sid"
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_LIFETIME = timedelta(hours=12)
#: "password OK, code pending" lasts this long (SEC-AUT-2b)
PENDING_LIFETIME = timedelta(seconds=300)
#: last_seen_at is written at most this often; the idle timeout can only end earlier for it
TOUCH_INTERVAL = timedelta(seconds=60)
#: a federated login started in this browser (state, nonce, code verifier), until its callback
FEDERATION_PENDING_KEY = "federation"
#: a federated identity waiting for the local login that links it to its account
FEDERATION_LINK_KEY = "federation_link"
#: the ID token of a federated session, for logging out at the provider (id_token_hint)
FEDERATION_ID_TOKEN_KEY = "federation_id_token"  # noqa: S105 - a key name
#: Flask session keys that survive a login (the language chosen before logging in, and the
#: federated identity the local login is about to link)
KEPT_ON_ROTATION = ("lang", FEDERATION_LINK_KEY)

_STATE = "_portal_session_state"


def hash_id(session_id: str) -> str:
    """Return the SHA-256 (hex) under which a session id is stored."""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionState:
    """What the current request's cookie amounts to."""

    record: UserSession | None = None
    user: User | None = None
    #: a valid session record whose second factor is passed
    full: bool = False
    #: a valid session record waiting for the second factor
    pending: bool = False
    #: the cookie pointed at a session that timed out
    expired: bool = False

    @property
    def id_hash(self) -> str | None:
        return self.record.id_hash if self.record is not None else None


ANONYMOUS = SessionState()


def load_state() -> SessionState:
    """Return (once per request) the state of the session the cookie points at."""
    if _STATE in g:
        return g.get(_STATE)
    state = _load(clock.now())
    setattr(g, _STATE, state)
    if state.record is not None:
        g.audit_session_hash = state.record.id_hash
        # Other areas read the current record here (e.g. when the second factor was passed).
        g.user_session = state.record
    return state


def forget_state() -> None:
    """Drop the cached state (after this request logged someone in or out)."""
    g.pop(_STATE, None)


#: one query for both rows, built once: it runs before every page (building a statement and
#: its cache key costs about as much as running it)
_SESSION_AND_USER = (
    select(UserSession, User).join(User, User.id == UserSession.user_id)
    .where(UserSession.id_hash == bindparam("id_hash"))
)


def _load(now: datetime) -> SessionState:
    session_id = flask_session.get(SESSION_KEY)
    if not isinstance(session_id, str) or not session_id:
        return ANONYMOUS
    found = get_session().execute(_SESSION_AND_USER, {"id_hash": hash_id(session_id)}).first()
    if found is None:
        return ANONYMOUS
    record, user = found
    if record.revoked_at is not None or user.is_disabled:
        return ANONYMOUS
    if record.mfa_at is None:
        if now - record.created_at > PENDING_LIFETIME:
            return SessionState(expired=True)
        return SessionState(record=record, user=user, pending=True)
    if now - record.last_seen_at > IDLE_TIMEOUT or now - record.created_at > ABSOLUTE_LIFETIME:
        return SessionState(expired=True)
    if now - record.last_seen_at >= TOUCH_INTERVAL:
        _touch(record, now)
    return SessionState(record=record, user=user, full=True)


def _touch(record: UserSession, now: datetime) -> None:
    # In its own short transaction: GET views never commit, yet activity must be recorded.
    with get_engine().begin() as connection:
        connection.execute(
            update(UserSession)
            .where(UserSession.id_hash == record.id_hash)
            .values(last_seen_at=now)
        )
    record.last_seen_at = now


def start(db: Session, user: User, *, second_factor: bool) -> UserSession:
    """Start a new session under a new id, replacing whatever the Flask session held.

    :param second_factor: True once both factors are passed; False for the pending state.
    """
    now = clock.now()
    session_id = secrets.token_urlsafe(32)
    record = UserSession(
        id_hash=hash_id(session_id),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        mfa_at=now if second_factor else None,
    )
    db.add(record)
    db.flush()
    rotate_cookie(session_id)
    g.audit_session_hash = record.id_hash
    g.user_session = record
    setattr(g, _STATE, SessionState(record=record, user=user, full=second_factor,
                                    pending=not second_factor))
    return record


def rotate_cookie(session_id: str | None) -> None:
    """Clear the Flask session (dropping the CSRF token) and store `session_id` in it."""
    kept = {key: flask_session[key] for key in KEPT_ON_ROTATION if key in flask_session}
    flask_session.clear()
    flask_session.update(kept)
    # Flask-WTF caches the request's token in g: drop it so a new one is drawn.
    g.pop("csrf_token", None)
    if session_id is not None:
        flask_session[SESSION_KEY] = session_id


def is_federated() -> bool:
    """Tell whether the current session was opened through the identity federation."""
    return bool(flask_session.get(FEDERATION_ID_TOKEN_KEY))


def end_current(db: Session) -> User | None:
    """Revoke the current session record (if any), clear the cookie, return whose it was."""
    state = load_state()
    user = state.user
    if state.record is not None:
        state.record.revoked_at = clock.now()
        db.flush()
    rotate_cookie(None)
    setattr(g, _STATE, ANONYMOUS)
    g.pop("user_session", None)
    return user


def revoke_all(db: Session, user: User, *, keep: str | None = None) -> int:
    """Revoke every live session of `user` except the one whose hash is `keep`."""
    statement = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    if keep is not None:
        statement = statement.where(UserSession.id_hash != keep)
    return rows_affected(
        db.execute(statement, execution_options={"synchronize_session": False}))
