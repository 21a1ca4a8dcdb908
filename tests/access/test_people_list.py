"""The people list: pages, search by login or name (by POST only), sort."""

from __future__ import annotations

import re

import pytest

from portal.access import people
from tests.access.helpers import make_user
from tests.access.login import log_in


@pytest.fixture
def as_admin(app, db, admin):  # noqa: ANN201
    client = app.test_client()
    log_in(client, db, admin)
    return client


@pytest.fixture
def crowd(db):  # noqa: ANN201
    """Five people with names that sort differently from their logins."""
    made = []
    for login, first, last in (("zoe.a", "Zoé", "Aubert"), ("yann.b", "Yann", "Bernard"),
                               ("xavier.c", "Xavier", "Chevalier"), ("wanda.d", "Wanda", "Dupont"),
                               ("victor.e", "Victor", "Étienne")):
        user = make_user(db, login)
        user.first_name, user.last_name = first, last
        made.append(user)
    db.commit()
    return made


def _crowd(logins: list[str]) -> list[str]:
    return [login for login in logins if login != "alice.admin"]


def _logins(page: str) -> list[str]:
    table = page.split('<table id="people">', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td>([a-z.]+)</td>", table)


def _next(page: str) -> str | None:
    found = re.search(r'href="(/access/people\?[^"]+)" rel="next"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_people_come_a_page_at_a_time_without_gaps_or_repeats(as_admin, crowd, monkeypatch):
    monkeypatch.setattr(people, "PAGE_SIZE", 2)
    seen, url = [], "/access/people?sort=login"
    while url:
        page = as_admin.get(url).text
        rows = _logins(page)
        assert 0 < len(rows) <= 2
        seen.extend(rows)
        url = _next(page)
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 6  # the admin too
    assert "First page" in page


def test_people_sort_by_name_login_or_creation(as_admin, crowd):
    by_name = ["zoe.a", "yann.b", "xavier.c", "wanda.d", "victor.e"]
    assert _crowd(_logins(as_admin.get("/access/people?sort=name").text)) == by_name
    assert _crowd(_logins(as_admin.get("/access/people?sort=name_desc").text)) == by_name[::-1]
    assert _logins(as_admin.get("/access/people?sort=login_desc").text)[:3] == [
        "zoe.a", "yann.b", "xavier.c"]
    assert _logins(as_admin.get("/access/people?sort=newest").text)[0] == "victor.e"
    # An unknown sort falls back to the name.
    assert _crowd(_logins(as_admin.get("/access/people?sort=nope").text)) == by_name


def test_people_are_searched_by_login_or_name_in_a_post_only(as_admin, crowd, monkeypatch):
    by_name = as_admin.post("/access/people", data={"q": "cheval", "sort": "name"})
    assert by_name.status_code == 200 and _logins(by_name.text) == ["xavier.c"]
    assert _logins(as_admin.post("/access/people", data={"q": "YANN."}).text) == ["yann.b"]
    # The text stays in the box, never in a link.
    assert 'value="cheval"' in by_name.text and "q=cheval" not in by_name.text
    # A GET does not search: the address carries no name.
    assert len(_logins(as_admin.get("/access/people?q=cheval").text)) == 6
    monkeypatch.setattr(people, "PAGE_SIZE", 1)
    # "a": the login alice.admin and the last name Aubert (of zoe.a).
    first = as_admin.post("/access/people", data={"q": "a", "sort": "login"})
    assert _logins(first.text) == ["alice.admin"] and _next(first.text) is None
    after = re.search(r'name="after" value="(\d+)"', first.text).group(1)
    second = as_admin.post("/access/people", data={"q": "a", "sort": "login", "after": after})
    assert _logins(second.text) == ["zoe.a"]


def test_the_search_finds_the_beginning_of_a_login_or_a_name(as_admin, crowd):
    """A prefix search, so that the database reads an index range (issue 13), not a scan."""
    assert _logins(as_admin.post("/access/people", data={"q": "Dup"}).text) == ["wanda.d"]
    assert _logins(as_admin.post("/access/people", data={"q": "wan"}).text) == ["wanda.d"]
    assert _logins(as_admin.post("/access/people", data={"q": "xavier.c"}).text) == ["xavier.c"]
    assert "Nobody's login or name" in as_admin.post("/access/people", data={"q": "pont"}).text
    # Typed wildcards are letters like any other.
    assert "Nobody's login or name" in as_admin.post("/access/people", data={"q": "%"}).text
    assert "Nobody's login or name" in as_admin.post("/access/people", data={"q": "w_n"}).text


def test_a_search_longer_than_any_name_is_a_form_error(as_admin, crowd):
    typed = "x" * (people.MAX_SEARCH + 1)
    response = as_admin.post("/access/people", data={"q": typed})
    assert response.status_code == 422
    assert "at most 80 characters" in response.text and f'value="{typed}"' in response.text
