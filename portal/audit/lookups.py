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
_CASES = "portal.audit.case_names"


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
#: (session, opaque references) -> what to show beside those the area knows
CaseNames = Callable[[Session, set[str]], dict[str, str]]
#: (session, typed text) -> the opaque reference of the case number typed, or None
CaseReference = Callable[[Session, str], str | None]


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


@dataclass(frozen=True)
class CaseNaming:
    """How one area names the cases it holds on the trail's pages."""

    names: CaseNames
    reference_of: CaseReference | None


def register_case_naming(app: Flask, names: CaseNames,
                         reference_of: CaseReference | None = None) -> None:
    """An area holding cases resolves their opaque references when a page shows the trail.

    Entries name a case by its opaque reference only, so that none holds the case number once
    the case is purged; the pages show the case number (or what became of the case) beside it,
    looked up at display time. Several areas may register (the active base, the archive).
    """
    app.extensions.setdefault(_CASES, []).append(CaseNaming(names, reference_of))


def case_names(session: Session, references: set[str]) -> dict[str, str]:
    """What to show beside each opaque reference a registered area knows (others left out)."""
    found: dict[str, str] = {}
    for naming in app_of(session).extensions.get(_CASES, []):
        wanted = references - found.keys()
        if wanted:
            found.update(naming.names(session, wanted))
    return found


def case_reference_of(session: Session, typed: str) -> str | None:
    """The opaque reference of a typed case number (None: the text is not one)."""
    for naming in app_of(session).extensions.get(_CASES, []):
        found = naming.reference_of(session, typed) if naming.reference_of else None
        if found is not None:
            return found
    return None
