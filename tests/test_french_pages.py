"""Every page a role reaches, in French, shows no English message id.

One person per role logs in, switches to French, and follows the links of the pages they reach
from the home page (GET only, same site, a bounded number per role). A page fails when its text
or a text attribute holds a message id of the catalogue whose French translation differs.
`crawl` and `build_world` are shared with the accessibility walk (tests/browser).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask
from sqlalchemy.orm import Session

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.accounts.models import User
from portal.notices.catalog import Audience
from portal.permissions import Role
from tests.helpers_auth import CHEAP_ARGON2, login
from tests.records import helpers

CATALOGUE = Path(__file__).resolve().parents[1] / "translations/fr/LC_MESSAGES/messages.po"
#: pages per role: enough to reach every menu entry and a record of each kind
MAX_PAGES = 60
#: links that change state or leave the pages (language switch, downloads, static files)
_SKIP = re.compile(r"^/(language/|static/|records-static/|logout|healthz)|\.(csv|xml|css|js|pdf)$")
_TEXT_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "value")


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    app_config["PASSWORD_HASHER"] = CHEAP_ARGON2
    return app_config


# --- the people and data the walks need ---------------------------------------------------------


@dataclass
class World:
    """One person per role, and a patient with a submitted form to look at."""

    people: dict[Role, User] = field(default_factory=dict)


def build_world(db: Session) -> World:
    """Create one person per role, a patient with an initiation, and the published notices."""
    from tests.notices.conftest import publish_notice

    helpers.install_demo(db)
    for audience in (Audience.PROFESSIONAL, Audience.TRANSPARENCY, Audience.RELATIVE,
                     Audience.WEBSITE):
        publish_notice(db, audience)
    site = helpers.site(db)
    world = World()
    from portal.accounts.demo import DEMO_PEOPLE

    logins = {}
    for person in DEMO_PEOPLE:  # the demo team's personal logins: one person per role
        logins.setdefault(person.role, person.login)
    for role in Role:
        login_name = logins[role]
        if role.is_healthcare:
            world.people[role] = helpers.professional(db, login_name, site, role=role)
        else:
            world.people[role] = helpers.lab_person(db, login_name, role)
    from portal.notices import acknowledgements
    from portal.notices import services as notices

    transparency = notices.current_published(db, Audience.TRANSPARENCY)
    for person in world.people.values():  # past the first-login notice, as after a first visit
        acknowledgements.acknowledge(db, person, transparency)
    db.commit()
    doctor = world.people[Role.PRESCRIBER]
    patient = helpers.register(db, doctor, site)
    helpers.submit(db, doctor, patient, "initiation")
    _registers(db, patient.case_number)
    return world


def _registers(db: Session, case_number: str) -> None:
    """An item of each register, so that the DPO's and the administrator's walks reach the
    item pages (a breach, its letters and history, a processor), and the prescriber his
    breach letter."""
    from portal import clock
    from portal.registers import services as registers
    from tests.helpers_auth import CLI

    registers.save_processing(db, CLI, {"dpo_name": "Claire Dupont",
                                        "dpo_contact": "dpo@labo.example"})
    registers.save_processor(db, CLI, None, {"name": "HébergeSanté", "role": "host",
                                             "country": "FR", "location": "Roubaix",
                                             "hds_certificate": "HDS-2024-0042"})
    breach = registers.save_breach(db, CLI, None, {
        "title": "Ordinateur portable perdu", "aware_at": clock.now(),
        "nature": ["confidentiality"], "risk": "risk", "cases": [case_number]})
    registers.send_prescriber_letters(db, CLI, breach.item_no)
    db.commit()


# --- walking the pages --------------------------------------------------------------------------


class _Page(HTMLParser):
    """The links, the visible text and the text attributes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.texts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "style"):
            self._skipping += 1
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        for name in _TEXT_ATTRIBUTES:
            if name == "value" and not (tag == "button" or values.get("type") in (
                    "submit", "button")):
                continue  # what a field holds is data, not the portal's words
            if values.get(name):
                self.texts.append(values[name] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping and data.strip():
            self.texts.append(data)


def parse(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    return parsed


def start_paths(app: Flask) -> list[str]:
    """The home page, every GET route without arguments, and the paper version of each form of
    the protocol in force (no menu links to it: it is opened from the protocol's documents)."""
    from portal.protocols.services import current_version
    from portal.records.versions import protocol_of

    paths = ["/"]
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.arguments and not _SKIP.search(rule.rule):
            paths.append(rule.rule)
    with app.app_context():
        from portal.db import new_session

        with new_session(app) as session:
            version = current_version(session, helpers.PROTOCOL_KEY)
            assert version is not None
            for form in protocol_of(version).definition.forms:
                paths.append(f"/protocols/{helpers.PROTOCOL_KEY}/forms/{form.key}/print")
    return list(dict.fromkeys(paths))


def crawl(get: Callable[[str], tuple[int, str, str]], start: Iterable[str] = ("/",),
          limit: int = MAX_PAGES) -> Iterable[tuple[str, str]]:
    """Yield (path, html) of each page reached from `start` by same-site links, breadth first.

    `get(path)` returns (status, content type, body). One page per path pattern (digits and
    random handles replaced) is enough: the others are the same template with other data.
    """
    queue, seen, patterns = list(start), set(start), set()
    while queue and len(patterns) < limit:
        path = queue.pop(0)
        status, kind, body = get(path)
        if status != 200 or not kind.startswith("text/html"):
            continue
        pattern = re.sub(r"/[A-Za-z0-9_-]{20,}|/\d+", "/<id>", urlsplit(path).path)
        if pattern in patterns:
            continue
        patterns.add(pattern)
        yield path, body
        for href in parse(body).links:
            target = urlsplit(urljoin(path, href))
            if target.scheme or target.netloc or not target.path.startswith("/"):
                continue
            local = target.path + (f"?{target.query}" if target.query else "")
            if _SKIP.search(target.path) or local in seen:
                continue
            seen.add(local)
            queue.append(local)


# --- the English message ids ----------------------------------------------------------------------


def english_ids() -> list[tuple[str, re.Pattern[str]]]:
    """The catalogue's message ids whose French differs, as patterns (placeholders match any
    text). Ids shorter than two words are left out: a single English word may be a code."""
    from babel.messages.pofile import read_po

    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale="fr")
    patterns = []
    for message in catalogue:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if not strings[0] or msgid in strings or len(msgid.split()) < 2:
                continue
            parts = [" ".join(p.split()) for p in re.split(r"%\(\w+\)[sd]|%[sd]", msgid)]
            while parts and not parts[0]:
                parts.pop(0)
            while parts and not parts[-1]:
                parts.pop()
            longest = max(parts, key=len, default="")
            if len(longest) < 6 or len(" ".join(parts).split()) < 2:
                continue
            pattern = r".{1,80}?".join(re.escape(p) for p in parts)
            patterns.append((longest, re.compile(r"(?<!\w)" + pattern + r"(?!\w)")))
    return patterns


def english_on(html: str, patterns: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    texts = [" ".join(t.split()) for t in parse(html).texts]
    text = " \n ".join(texts)
    return sorted({m.group(0) for longest, p in patterns if longest in text
                   for m in [p.search(text)] if m})


def test_every_page_a_role_reaches_is_in_french(app, db) -> None:
    world = build_world(db)
    patterns = english_ids()
    starts = start_paths(app)
    assert len(patterns) > 200  # the catalogue was read
    found: dict[str, list[str]] = {}
    walked = 0
    for role, person in world.people.items():
        client = app.test_client()
        login(client, person)
        client.get("/language/fr")

        def get(path: str, client=client) -> tuple[int, str, str]:  # noqa: ANN001
            response = client.get(path)
            # Only pages are read as text: the favicon and downloads are not.
            html = response.content_type.startswith("text/html")
            body = response.get_data(as_text=True) if html else ""
            return response.status_code, response.content_type, body

        pages = 0
        for path, html in crawl(get, starts):
            pages += 1
            assert 'lang="fr"' in html, path
            english = english_on(html, patterns)
            if english:
                found[f"{role.value} {path}"] = english
        walked += pages
        print(f"{role.value:<22} {pages:>3} pages")
        assert pages >= 3, f"{role.value} reached only {pages} pages"
    print(f"{walked} pages walked in French")
    report = "\n".join(f"{where}: {texts}" for where, texts in sorted(found.items()))
    assert not found, "English text on French pages:\n" + report


def test_the_check_finds_english_text(app, db) -> None:
    """The check itself: an English page is caught (else the French walk could never fail)."""
    client = app.test_client()
    client.get("/language/en")
    html = client.get("/").get_data(as_text=True)
    assert "Follow-up of patients treated under a compassionate access authorization" in \
        english_on(html, english_ids())
    client.get("/language/fr")
    assert english_on(client.get("/").get_data(as_text=True), english_ids()) == []


def test_a_failed_registration_is_reported_in_french(app, db) -> None:
    world = build_world(db)
    client = app.test_client()
    login(client, world.people[Role.PRESCRIBER])
    client.get("/language/fr")
    response = client.post("/patients/new", data={"surname_letters": "Zqxyz",
                                                  "weight_kg": "999"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "erreurs : corrigez-les et envoyez de nouveau." in html
    assert "Sexe : Choisissez le sexe." in html
    assert english_on(html, english_ids()) == []
