"""After a failed submit a person sees every error at once: a summary at the top, focused,
with a link to each field, and each field's own error tied to it (aria-describedby)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal import clock
from portal.permissions import Role
from tests.browser.conftest import log_in
from tests.helpers_auth import make_user
from tests.records import helpers

pytestmark = pytest.mark.browser


def _summary(page) -> list[tuple[str, str]]:  # noqa: ANN001
    """The summary's links: (target id, text)."""
    links = page.locator("#error-summary a")
    return [(links.nth(i).get_attribute("href").lstrip("#"), links.nth(i).inner_text())
            for i in range(links.count())]


def _check_tied(page, target: str) -> None:  # noqa: ANN001
    """The field the summary links to exists and names its error in aria-describedby."""
    field = page.locator(f"[id='{target}']")
    assert field.count() == 1, target
    holder = field.evaluate(
        "e => e.getAttribute('aria-describedby') ? e : e.closest('[aria-describedby]')")
    assert holder is not None
    described = field.evaluate(
        "e => (e.getAttribute('aria-describedby') ||"
        " e.closest('[aria-describedby]').getAttribute('aria-describedby'))")
    error_ids = [one for one in described.split() if one.endswith("-errors")]
    assert error_ids, f"{target} is not tied to its error: {described}"
    assert page.locator(f"[id='{error_ids[0]}']").inner_text().strip()


def test_registration_shows_every_error_at_once_in_a_focused_summary(app, db, page,
                                                                     live_server) -> None:
    helpers.install_demo(db)
    site = helpers.site(db)
    doctor = helpers.professional(db, "c.martin", site)
    log_in(page, live_server, app, doctor)
    page.goto(live_server + "/patients/new")
    # Four problems at once: too many letters, no sex, a weight and a height out of range.
    page.fill("#surname_letters", "Zqxyz")
    page.fill("#first_name_letters", "Wk")
    page.select_option("#birth_month", "4")
    page.fill("#birth_year", "1961")
    page.fill("#weight_kg", "999")
    page.fill("#height_cm", "10")
    page.get_by_role("button", name="Register").click()
    page.wait_for_load_state()

    items = _summary(page)
    targets = [target for target, _text in items]
    assert targets == ["surname_letters", "sex-0", "weight_kg", "height_cm"], items
    texts = " | ".join(text for _t, text in items)
    assert "Enter at most 3 letters" in texts and "Choose the sex." in texts
    assert "Enter a weight between" in texts and "Enter a height between" in texts
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "4 errors" in page.locator("#error-summary h2").inner_text()
    for target in targets:
        _check_tied(page, target)
    # What the person typed is kept.
    assert page.input_value("#surname_letters") == "Zqxyz"
    assert page.input_value("#weight_kg") == "999"

    # A link of the summary takes the focus to its field.
    page.locator("#error-summary a[href='#weight_kg']").click()
    assert page.evaluate("document.activeElement.id") == "weight_kg"


def test_a_grant_form_reports_every_broken_rule_on_its_field(app, db, page, live_server) -> None:
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    person = make_user(db, "m.dubois")
    log_in(page, live_server, app, admin)
    page.goto(f"{live_server}/access/people/{person.id}/grants/new")
    # An auditor for 60 days, without motivation nor reference: three rules broken.
    page.select_option("#role", "auditor")
    page.select_option("#scope", "pseudonymised")
    page.select_option("#category", "health")
    # Counted from the portal's clock (the test's), not the browser's.
    last_day = (clock.now() + timedelta(days=60)).date().isoformat()
    page.fill("#valid_until", last_day)
    page.get_by_role("button", name="Ask for this grant").click()
    page.wait_for_load_state()

    items = _summary(page)
    texts = " | ".join(text for _t, text in items)
    assert "Auditor access lasts at most 30 days." in texts, items
    assert "Auditor access needs a motivation" in texts
    assert "Auditor access needs a reference number" in texts
    targets = {target for target, _text in items}
    assert {"valid_until", "motivation", "motivation_reference"} <= targets, items
    assert page.evaluate("document.activeElement.id") == "error-summary"
    for target in targets:
        _check_tied(page, target)
    assert page.input_value("#valid_until") == last_day


def test_login_and_code_pages_put_the_focus_on_their_first_field(app, db, page,
                                                                 live_server) -> None:
    from tests.helpers_auth import DEFAULT_PASSWORD

    user = make_user(db, "c.martin", role=Role.PHARMACOVIGILANCE)
    page.goto(live_server + "/language/en")
    page.goto(live_server + "/login")
    # The browser runs autofocus at its next rendering step, which may come after the load.
    _focus_reaches(page, "login")
    page.fill("#login", user.login)
    page.fill("#password", DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/login/.*|.*/code.*|.*second.*"))
    page.wait_for_selector("#code")
    _focus_reaches(page, "code")


def _focus_reaches(page, element_id: str) -> None:  # noqa: ANN001
    """Wait (5 s at most) for the focus to be on `element_id`; fails if it never gets there."""
    page.wait_for_function("id => document.activeElement && document.activeElement.id === id",
                           arg=element_id, timeout=5000)


def test_a_protocol_form_shows_a_focused_summary_of_every_error(app, db, page,
                                                                live_server) -> None:
    helpers.install_demo(db)
    site = helpers.site(db)
    doctor = helpers.professional(db, "c.martin", site)
    patient = helpers.register(db, doctor, site)
    log_in(page, live_server, app, doctor)
    page.goto(f"{live_server}/patients/{patient.handle}/forms/initiation")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_selector("#error-summary")

    items = _summary(page)
    shown = page.locator(".pf-errors li").count()
    assert len(items) == shown > 3, items
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert f"{shown} errors" in page.locator("#error-summary h2").inner_text()
    for target, text in items:
        assert ": " in text, text  # the field's label, then its message
        _check_tied(page, target)
    target = items[1][0]
    page.locator(f"#error-summary a[href='#{target}']").click()
    assert page.evaluate("document.activeElement.id") == target
