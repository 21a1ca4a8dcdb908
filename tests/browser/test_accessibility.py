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
from tests.helpers_auth import login
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


def _pages_to_check(app, person, starts, checked: set[str]) -> list[str]:  # noqa: ANN001
    """The pages `person` reaches that no earlier role showed, found by the test client (the
    walk itself needs no browser: only the pages axe reads are opened in Chromium)."""
    client = app.test_client()
    login(client, person)

    def get(path: str) -> tuple[int, str, str]:
        response = client.get(path)
        html = response.content_type.startswith("text/html")
        return (response.status_code, response.content_type,
                response.get_data(as_text=True) if html else "")

    reached, fresh = 0, []
    for path, _html in crawl(get, starts):
        reached += 1
        # The same page under another role differs only by its menu: checked once.
        key = re.sub(r"/[A-Za-z0-9_-]{20,}|/\d+", "/<id>", path.split("?")[0])
        if key not in checked:
            checked.add(key)
            fresh.append(path)
    assert reached >= 3, f"{person.login} reached only {reached} pages"
    return fresh


def test_no_serious_finding_on_any_page_a_role_reaches(app, db, browser, live_server,
                                                       axe) -> None:
    world = build_world(db)
    starts = start_paths(app)
    problems: list[str] = []
    checked: set[str] = set()
    totals: Counter[str] = Counter()
    for role, person in world.people.items():
        paths = _pages_to_check(app, person, starts, checked)
        if not paths:
            continue
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            log_in(page, live_server, app, person)
            for path in paths:
                response = page.goto(live_server + path)
                assert response is not None and response.status == 200, path
                found = _findings(axe, page)
                totals.update(f["impact"] for f in found)
                print(_line(f"{role.value} {path}", found))
                problems += _blocking(f"{role.value} {path}", found)
        finally:
            context.close()
    print(f"{len(checked)} pages checked; findings: "
          + " ".join(f"{i}={totals.get(i, 0)}" for i in IMPACTS))
    assert len(checked) >= 20, f"only {len(checked)} distinct pages were reached"
    assert not problems, "axe findings:\n" + "\n".join(problems)


def _check_after_refusal(page, axe, where: str, button: str) -> None:  # noqa: ANN001
    """Submit the form open on `page` with its `button`, wait for the error summary, run axe."""
    page.get_by_role("button", name=button).click()
    page.wait_for_selector("#error-summary")
    found = _findings(axe, page)
    print(_line(where, found))
    assert not _blocking(f"{where} after a failed submit", found)


def test_no_serious_finding_after_a_failed_registration(app, db, page, live_server,
                                                         axe) -> None:
    world = build_world(db)
    log_in(page, live_server, app, world.people[Role.PRESCRIBER])
    page.goto(live_server + "/patients/new")
    page.fill("#surname_letters", "Zqxyz")
    page.fill("#weight_kg", "999")
    _check_after_refusal(page, axe, "prescriber POST /patients/new", "Register")


def test_no_serious_finding_after_a_refused_grant(app, db, page, live_server, axe) -> None:
    world = build_world(db)
    person = world.people[Role.AUDITOR]
    log_in(page, live_server, app, world.people[Role.ADMINISTRATOR])
    page.goto(f"{live_server}/access/people/{person.id}/grants/new")
    page.select_option("#role", "auditor")
    _check_after_refusal(page, axe, "administrator POST grant form", "Ask for this grant")


def test_no_serious_finding_after_a_refused_aac_decision(app, db, page, live_server,
                                                         axe) -> None:
    world = build_world(db)
    log_in(page, live_server, app, world.people[Role.PHARMACIST_IN_CHARGE])
    page.goto(live_server + "/retention/aac")
    page.fill("#case_number", "ZZZZ-ZZZZ")
    _check_after_refusal(page, axe, "pharmacist_in_charge POST /retention/aac",
                         "Record the decision")
