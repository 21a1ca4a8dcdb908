"""The trail as a list: newest or oldest first, a page at a time, searched by actor or action."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.audit import trail
from portal.audit.models import AuditEvent
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


def _control(page: str, rel: str) -> tuple[str, dict[str, str]] | None:
    """The page control marked `rel`: a link (unfiltered trail) or a form posting the filter."""
    link = re.search(rf'href="(/audit/[^"]*)" rel="{rel}"', page)
    if link:
        return link.group(1).replace("&amp;", "&"), {}
    form = re.search(rf'<form method="post" action="(/audit/)" class="inline" data-rel="{rel}">'
                     r"(.*?)</form>", page, re.S)
    if form is None:
        return None
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                             form.group(2)))
    fields.pop("csrf_token", None)
    return form.group(1), fields


def _follow(client: FlaskClient, control: tuple[str, dict[str, str]]) -> str:
    url, fields = control
    response = client.post(url, data=fields) if fields else client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_trail_reads_oldest_first_a_page_at_a_time(
        client: FlaskClient, db: Session, dpo: User, monkeypatch) -> None:
    _seed(db)
    log_in(client, db, dpo)
    monkeypatch.setattr(trail, "PAGE_SIZE", 4)
    seen = []
    control = ("/audit/", {"sort": "oldest", "action": "records:patient:read"})
    while control:
        page = _follow(client, control)
        assert 'value="oldest" selected' in page
        seen.extend(_refs(page))
        control = _control(page, "next")
        # The filter travels in the body, never in an address.
        assert "records:patient:read" not in "".join(re.findall(r'href="([^"]*)"', page))
    assert seen == ["R1", "R2", "R3", "R4", "R5", "R6"]
    assert "First page" in page
    newest = _follow(client, ("/audit/", {"action": "records:patient:read"}))
    assert _refs(newest) == ["R6", "R5", "R4", "R3"]
    older = _control(newest, "next")
    assert older is not None and older[1]["sort"] == "newest"
    assert _refs(_follow(client, older)) == ["R2", "R1"]


def test_the_unfiltered_trail_pages_by_links_and_a_filter_in_an_address_is_not_read(
        client: FlaskClient, db: Session, dpo: User, monkeypatch) -> None:
    _seed(db)
    log_in(client, db, dpo)
    monkeypatch.setattr(trail, "PAGE_SIZE", 4)
    page = client.get("/audit/?sort=oldest").get_data(as_text=True)
    link = _control(page, "next")
    assert link is not None and link[1] == {} and "sort=oldest" in link[0]
    second = _follow(client, link)
    assert _refs(page) == ["R1", "R2", "R3"] and _refs(second)[:3] == ["R4", "R5", "R6"]
    # A filter written into the address (an old bookmark) is not read.
    everything = client.get("/audit/?person=sam.reader").get_data(as_text=True)
    assert 'value="sam.reader"' not in everything
    [last] = [e for e in db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))]
    assert last.action == "audit:events:read" and "filter_person" not in last.details


def test_the_trail_is_searched_by_the_actors_login_either_way(
        client: FlaskClient, db: Session, dpo: User) -> None:
    _seed(db)
    log_in(client, db, dpo)
    mine = _follow(client, ("/audit/", {"person": "RITA.reader", "sort": "oldest"}))
    assert _refs(mine) == ["R1", "R3", "R5"]
    theirs = _follow(client, ("/audit/", {"person": "sam.reader",
                                          "action": "records:patient:read"}))
    assert _refs(theirs) == ["R6", "R4", "R2"]
