"""axe-core (from the axe-playwright-python package, test-only) on every page each role reaches,
and on the pages a failed submit shows: no critical or serious finding. The counts by impact are
printed per page and role (run with -s to read them)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.permissions import Role
from tests.browser.conftest import log_in
from tests.test_french_pages import build_world, crawl, start_paths

pytestmark = pytest.mark.browser

BLOCKING = ("critical", "serious")
IMPACTS = ("critical", "serious", "moderate", "minor")


@pytest.fixture(scope="module")
def axe():  # noqa: ANN201
    axe_playwright = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="axe-playwright-python is a dev dependency: pip install -e '.[dev]'")
    return axe_playwright.Axe()


def _findings(axe, page) -> list[dict]:  # noqa: ANN001
    """axe's violations on the page as it is, one entry per rule and element."""
    results = axe.run(page)
    found = []
    for violation in results.response["violations"]:
        for node in violation["nodes"]:
            found.append({"impact": violation.get("impact") or "minor", "rule": violation["id"],
                          "help": violation["help"], "target": node.get("target")})
    return found


def _line(where: str, found: list[dict]) -> str:
    counts = Counter(f["impact"] for f in found)
    return f"{where:<70} " + " ".join(f"{i}={counts.get(i, 0)}" for i in IMPACTS)


def _blocking(where: str, found: list[dict]) -> list[str]:
    return [f"{where}: {f['impact']} {f['rule']} ({f['help']}) at {f['target']}"
            for f in found if f["impact"] in BLOCKING]


def test_no_serious_finding_on_any_page_a_role_reaches(app, db, browser, live_server,
                                                       axe) -> None:
    world = build_world(db)
    starts = start_paths(app)
    problems: list[str] = []
    checked: set[str] = set()
    totals: Counter[str] = Counter()
    for role, person in world.people.items():
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            log_in(page, live_server, app, person)

            def get(path: str, page=page) -> tuple[int, str, str]:  # noqa: ANN001
                response = page.goto(live_server + path)
                if response is None:
                    return 0, "", ""
                kind = response.headers.get("content-type", "")
                return response.status, kind, page.content() if kind.startswith("text/") else ""

            pages = 0
            for path, _html in crawl(get, starts):
                pages += 1
                # The same page under another role differs only by its menu: checked once.
                key = re.sub(r"/[A-Za-z0-9_-]{20,}|/\d+", "/<id>", path.split("?")[0])
                if key in checked:
                    continue
                checked.add(key)
                found = _findings(axe, page)
                totals.update(f["impact"] for f in found)
                print(_line(f"{role.value} {path}", found))
                problems += _blocking(f"{role.value} {path}", found)
            assert pages >= 3, f"{role.value} reached only {pages} pages"
        finally:
            context.close()
    print(f"{len(checked)} pages checked; findings: "
          + " ".join(f"{i}={totals.get(i, 0)}" for i in IMPACTS))
    assert not problems, "axe findings:\n" + "\n".join(problems)


def test_no_serious_finding_after_a_failed_registration(app, db, page, live_server,
                                                         axe) -> None:
    world = build_world(db)
    log_in(page, live_server, app, world.people[Role.PRESCRIBER])
    page.goto(live_server + "/patients/new")
    page.fill("#surname_letters", "Zqxyz")
    page.fill("#weight_kg", "999")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("#error-summary")
    found = _findings(axe, page)
    print(_line("prescriber POST /patients/new", found))
    assert not _blocking("/patients/new after a failed submit", found)


def test_no_serious_finding_after_a_refused_grant(app, db, page, live_server, axe) -> None:
    world = build_world(db)
    person = world.people[Role.AUDITOR]
    log_in(page, live_server, app, world.people[Role.ADMINISTRATOR])
    page.goto(f"{live_server}/access/people/{person.id}/grants/new")
    page.select_option("#role", "auditor")
    page.get_by_role("button", name="Ask for this grant").click()
    page.wait_for_selector("#error-summary")
    found = _findings(axe, page)
    print(_line("administrator POST grant form", found))
    assert not _blocking("the grant form after a failed submit", found)
