"""The people list of the administrators: keyset pages, searched by the beginning of a login or
a name (indexed), sortable.

A page after a given person is an indexed range on the sort's columns (`ix_users_name`, the
unique normalised login, `ix_users_created`), so a page costs the same with a thousand accounts
or a hundred thousand. The position is the number of the last person shown (the one the
person's page already uses); the search text travels in a POST body only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from portal.access.models import AccessGrant, GrantStatus
from portal.accounts.models import User

#: people on one page
PAGE_SIZE = 50
#: the longest search text (a login or a name is shorter)
MAX_SEARCH = 80


class PeopleSort(enum.StrEnum):
    NAME = "name"
    NAME_DESC = "name_desc"
    LOGIN = "login"
    LOGIN_DESC = "login_desc"
    NEWEST = "newest"


SORT_LABELS = {
    PeopleSort.NAME: _l("Name, A to Z"),
    PeopleSort.NAME_DESC: _l("Name, Z to A"),
    PeopleSort.LOGIN: _l("Login, A to Z"),
    PeopleSort.LOGIN_DESC: _l("Login, Z to A"),
    PeopleSort.NEWEST: _l("Newest accounts first"),
}


class SearchTooLong(ValueError):
    """The search text is longer than any login or name."""


@dataclass(frozen=True)
class PeoplePage:
    """One page of people with their current grants, and where the next page starts."""

    users: list[User]
    grants: dict[int, list[AccessGrant]]
    sort: str
    search: str | None
    next_after: int | None
    continued: bool


def _keys(sort: PeopleSort) -> tuple[Any, ...]:
    if sort in (PeopleSort.NAME, PeopleSort.NAME_DESC):
        return (User.last_name, User.first_name, User.id)
    if sort in (PeopleSort.LOGIN, PeopleSort.LOGIN_DESC):
        return (User.login_normalised,)
    return (User.created_at, User.id)


def _descending(sort: PeopleSort) -> bool:
    return sort in (PeopleSort.NAME_DESC, PeopleSort.LOGIN_DESC, PeopleSort.NEWEST)


#: above every character a name or a login holds: the end of a prefix range
_LAST_CHARACTER = "\U0010ffff"


def _starts_with(column: Any, prefix: str, dialect: str) -> Any:
    if dialect == "postgresql":
        # Typed % and _ are searched for as such, not as wildcards.
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(f"{escaped}%", escape="\\")
    # SQLite compares bytes: every text starting with the prefix lies in this range, which
    # its index (on the column or on lower(column)) reads directly; LIKE would scan.
    return (column >= prefix) & (column < prefix + _LAST_CHARACTER)


def _searched(query: Any, search: str | None, dialect: str) -> Any:
    """People whose login, last name or first name starts with the text (any case)."""
    if not search:
        return query
    prefix = search.casefold()
    return query.where(or_(_starts_with(User.login_normalised, prefix, dialect),
                           _starts_with(func.lower(User.last_name), prefix, dialect),
                           _starts_with(func.lower(User.first_name), prefix, dialect)))


def people_page(session: Session, *, sort: str | None = None, search: str | None = None,
                after: str | int | None = None, page_size: int | None = None) -> PeoplePage:
    """Return one page of people, in the sort's order, after the person numbered `after`.

    :raises SearchTooLong: the search text is longer than MAX_SEARCH characters.
    """
    try:
        order = PeopleSort(sort or PeopleSort.NAME)
    except ValueError:
        order = PeopleSort.NAME
    wanted = (search or "").strip() or None
    if wanted is not None and len(wanted) > MAX_SEARCH:
        raise SearchTooLong(wanted)
    page_size = page_size or PAGE_SIZE
    query = _searched(select(User), wanted, session.get_bind().dialect.name)
    keys = _keys(order)
    last = None
    if after is not None and str(after).isdigit() and len(str(after)) <= 18:
        last = session.scalar(query.where(User.id == int(after)))
    if last is not None:
        mark = tuple_(*[getattr(last, k.key) for k in keys])
        row = tuple_(*keys)
        query = query.where(row < mark if _descending(order) else row > mark)
    query = query.order_by(*[k.desc() if _descending(order) else k for k in keys])
    users = list(session.scalars(query.limit(page_size + 1)))
    more = len(users) > page_size
    users = users[:page_size]
    grants: dict[int, list[AccessGrant]] = {}
    if users:
        for grant in session.scalars(
            select(AccessGrant).where(
                AccessGrant.user_id.in_([u.id for u in users]),
                AccessGrant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED]))
            .order_by(AccessGrant.id)
        ):
            grants.setdefault(grant.user_id, []).append(grant)
    return PeoplePage(users, grants, str(order), wanted,
                      users[-1].id if more and users else None, last is not None)
