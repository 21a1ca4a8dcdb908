"""The trail as a list: newest or oldest first, a page at a time, searched by actor or action."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.audit import trail
from portal.audit.services import record
from tests.access.helpers import make_user
from tests.access.login import log_in


def _seed(db: Session) -> tuple[User, User]:
    """Six reads by two people, alternating, on records R1 to R6."""
    rita, sam = make_user(db, "rita.reader"), make_user(db, "sam.reader")
    for n in range(1, 7):
        record(db, rita if n % 2 else sam, "records:patient:read", ("patient", f"R{n}"))
    record(db, sam, "records:patient:list", None)
    db.commit()
    return rita, sam


def _refs(page: str) -> list[str]:
    return re.findall(r"patient (R\d)</td>", page)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'href="(/audit/\?[^"]+)" rel="{rel}"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_trail_reads_oldest_first_a_page_at_a_time(
        client: FlaskClient, db: Session, dpo: User, monkeypatch) -> None:
    _seed(db)
    log_in(client, db, dpo)
    monkeypatch.setattr(trail, "PAGE_SIZE", 4)
    seen, url = [], "/audit/?sort=oldest&action=records:patient:read"
    while url:
        page = client.get(url).get_data(as_text=True)
        assert 'value="oldest" selected' in page
        seen.extend(_refs(page))
        url = _link(page, "next")
    assert seen == ["R1", "R2", "R3", "R4", "R5", "R6"]
    assert "First page" in page
    newest = client.get("/audit/?action=records:patient:read").get_data(as_text=True)
    assert _refs(newest) == ["R6", "R5", "R4", "R3"]
    older = _link(newest, "next")
    assert older is not None and "sort=newest" in older
    assert _refs(client.get(older).get_data(as_text=True)) == ["R2", "R1"]


def test_the_trail_is_searched_by_the_actors_login_either_way(
        client: FlaskClient, db: Session, dpo: User) -> None:
    _seed(db)
    log_in(client, db, dpo)
    mine = client.get("/audit/?person=RITA.reader&sort=oldest").get_data(as_text=True)
    assert _refs(mine) == ["R1", "R3", "R5"]
    theirs = client.get("/audit/?person=sam.reader&action=records:patient:read")
    assert _refs(theirs.get_data(as_text=True)) == ["R6", "R4", "R2"]
