"""What the audit area asks the other areas, through hooks they register (no imports of them).

The audit area sits below accounts and access: they write to the trail, so it cannot import
them. Where the trail needs their data (a person's id from a typed login, the grants someone
held when they acted) the area that owns it registers a function on the app at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from portal.db import app_of

_PERSON = "portal.audit.person_id"
_GRANTS = "portal.audit.grant_periods"


@dataclass(frozen=True)
class GrantPeriod:
    """One access grant as the outside-grant rule weighs it."""

    #: still waiting for its approval: it covers nothing
    pending: bool
    valid_from: datetime
    valid_until: datetime
    created_at: datetime | None
    approved_at: datetime | None
    ended_at: datetime | None


PersonLookup = Callable[[Session, str], int | None]
GrantHistory = Callable[[Session, int], list[GrantPeriod]]


def register_person_lookup(app: Flask, lookup: PersonLookup) -> None:
    """`lookup(session, typed_login)` returns the account id of that login, or None."""
    app.extensions[_PERSON] = lookup


def register_grant_history(app: Flask, history: GrantHistory) -> None:
    """`history(session, user_id)` returns every access grant the person ever held."""
    app.extensions[_GRANTS] = history


def person_id(session: Session, typed: str) -> int | None:
    """The account id of a typed login (None: unknown, or no accounts area)."""
    lookup = app_of(session).extensions.get(_PERSON)
    return lookup(session, typed) if lookup is not None else None


def grant_history(session: Session, user_id: int) -> list[GrantPeriod] | None:
    """The person's grants; None when no area keeps grants (nothing to weigh actions by)."""
    history = app_of(session).extensions.get(_GRANTS)
    return history(session, user_id) if history is not None else None
