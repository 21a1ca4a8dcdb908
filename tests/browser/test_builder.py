"""The form builder in Chromium (issue 20, "Done when"): a manager imports a REDCap dictionary,
fixes the refused field in the structured editor and sees a finding disappear, completes the
text, previews the follow-up in both languages with the conditional-field script live, submits;
the same manager cannot approve; a second manager approves and the prescriber sees the new
version. A draft removing a field with stored answers is refused with the reason. Every builder
page passes axe-core with no serious finding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import portal.notices.models  # noqa: F401 - every table on the metadata (PostgreSQL schema)
import portal.records.models  # noqa: F401
import portal.rights.models  # noqa: F401
from portal.permissions import Role
from tests.browser.conftest import log_in
from tests.records import helpers

pytestmark = pytest.mark.browser

DICTIONARY = Path(__file__).resolve().parents[1] / "data" / "builder" / "followup_dictionary.csv"
BLOCKING = ("critical", "serious")


@pytest.fixture(scope="module")
def axe():  # noqa: ANN201
    axe_playwright = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="axe-playwright-python is a dev dependency: pip install -e '.[dev]'")
    return axe_playwright.Axe()


class Axe:
    """Runs axe on each page it is shown and keeps the serious findings."""

    def __init__(self, axe) -> None:  # noqa: ANN001
        self.axe = axe
        self.problems: list[str] = []
        self.totals: Counter[str] = Counter()
        self.pages = 0

    def check(self, page, where: str) -> None:  # noqa: ANN001
        results = self.axe.run(page)
        self.pages += 1
        for violation in results.response["violations"]:
            impact = violation.get("impact") or "minor"
            for node in violation["nodes"]:
                self.totals[impact] += 1
                if impact in BLOCKING:
                    self.problems.append(f"{where}: {impact} {violation['id']} "
                                         f"({violation['help']}) at {node.get('target')}")


def _new_context(browser):  # noqa: ANN001, ANN202
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def _findings_count(page) -> str:  # noqa: ANN001
    return page.locator("#findings-count").inner_text()


def test_import_fix_preview_submit_approve_and_the_prescriber_sees_it(
        app, db, browser, page, live_server, axe) -> None:  # noqa: ANN001
    helpers.install_demo(db)
    site = helpers.site(db, helpers.FINESS_A, "Centre hospitalier Alpha")
    doctor = helpers.professional(db, "c.martin", site)
    author = helpers.lab_person(db, "a.auteur", Role.PHARMACIST_IN_CHARGE)
    checker = helpers.lab_person(db, "v.verif", Role.MEDICAL_AFFAIRS)
    scan = Axe(axe)

    # The manager imports a REDCap dictionary and reads the fate of each field.
    log_in(page, live_server, app, author)
    page.get_by_role("link", name="Form builder").click()
    scan.check(page, "drafts list")
    page.check("input[name=origin][value=redcap]")
    page.set_input_files("#upload", str(DICTIONARY))
    page.get_by_role("button", name="Start the draft").click()
    page.wait_for_selector("#fate-report")
    refused = page.locator("#fate-report tr.fate-rejected", has_text="comments")
    assert "free text is forbidden" in refused.inner_text()
    scan.check(page, "draft with its import report")
    draft_url = page.url
    assert "6 findings" in _findings_count(page)

    # In the structured editor: the untranslated label is a finding beside its field...
    page.get_by_role("link", name="Structured editor").click()
    weight = page.locator("#field-weight")
    assert "French text is the English one" in weight.inner_text()
    scan.check(page, "structured editor")
    page.get_by_role("link", name="weight", exact=True).click()
    scan.check(page, "field page")
    page.fill("#label_fr", "Poids (kg)")
    page.get_by_role("button", name="Save the field").click()
    # ... and it disappears once the French label is written.
    assert "French text is the English one" not in page.locator("#field-weight").inner_text()
    assert "5 findings" in page.locator("#structure-count").inner_text()

    # The refused free-text comment comes back as coded answers, shown only if tolerance is poor.
    page.select_option("#type-followup-visit", "single_choice")
    page.get_by_role("button", name="Add a field to visit").click()
    page.get_by_role("link", name="new_field_1", exact=True).click()
    page.fill("#key", "tolerance_problem")
    page.fill("#label_fr", "Problème de tolérance")
    page.fill("#label_en", "Tolerance problem")
    page.fill("#choices", "rash | Éruption | Rash\nnausea | Nausées | Nausea")
    page.fill("#visible_if", "tolerance == '2'")
    page.get_by_role("button", name="Save the field").click()
    assert page.locator("#field-tolerance_problem .label-fr").inner_text() == \
        "Problème de tolérance"

    # The text editor shows what the structured editor wrote; the placeholders are completed
    # there, and the structured editor shows the text's edit in turn.
    page.goto(draft_url)
    text = page.locator("#text").input_value()
    assert "key: tolerance_problem" in text and "Poids (kg)" in text
    for before, after in (("name: TO COMPLETE", "name: Velnorastat"),
                          ("code: TO-COMPLETE", "code: VEL-01"),
                          ("fr: À compléter", "fr: Maladie rare"),
                          ("en: To complete", "en: Rare disease"),
                          ("put_sp_reference: TO-COMPLETE", "put_sp_reference: PUT-2026-07"),
                          ("fr: Tolerance\n", "fr: Tolérance\n")):
        assert before in text, before
        text = text.replace(before, after)
    page.fill("#text", text)
    page.get_by_role("button", name="Save and check").click()
    page.wait_for_load_state()
    assert "No finding" in _findings_count(page)
    page.get_by_role("link", name="Structured editor").click()
    assert page.locator("#field-tolerance .label-fr").inner_text() == "Tolérance"

    # The follow-up as a prescriber will see it, in French and in English, script live.
    page.goto(draft_url)
    page.locator(".preview-links a[hreflang=fr]").first.click()
    page.wait_for_selector("#preview-banner")
    assert page.locator("label", has_text="Poids (kg)").count() == 1
    scan.check(page, "preview in French")
    page.locator("main a[hreflang=en]", has_text="English").click()
    page.wait_for_selector("#preview-banner")
    assert page.locator("label", has_text="Weight (kg)").count() == 1
    problem = page.locator("#w-f_tolerance_problem")
    assert problem.is_hidden()
    page.locator("input[name=f_tolerance][value='2']").check()
    assert problem.is_visible()
    page.get_by_role("button", name="Try the checks").click()
    page.wait_for_selector("#preview-result")
    assert "errors" in page.locator("#preview-result").inner_text()
    scan.check(page, "preview after the checks")
    page.get_by_role("link", name="Paper version").click()
    page.wait_for_selector(".paper-form")
    scan.check(page, "paper preview")

    # The author submits, and cannot approve.
    page.goto(draft_url)
    page.get_by_role("button", name="Submit for approval").click()
    page.wait_for_selector("#draft-status")
    assert page.locator("#draft-status").inner_text() == "submitted for approval"
    assert page.get_by_role("button", name="Approve and put in force").count() == 0
    status = page.evaluate("""async () => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const body = new URLSearchParams({csrf_token: token});
        const response = await fetch(location.pathname + '/approve', {method: 'POST', body});
        return response.status;
    }""")
    assert status == 403
    page.get_by_role("link", name="Compare with the version in force").click()
    scan.check(page, "compare page")

    # A second manager approves: the version is in force with both names.
    context, second = _new_context(browser)
    try:
        log_in(second, live_server, app, checker)
        second.goto(draft_url)
        scan.check(second, "draft waiting for approval")
        second.get_by_role("button", name="Approve and put in force").click()
        second.wait_for_selector(".version")
        version = second.locator(".version").first.inner_text()
        assert "a.auteur" in version and "v.verif" in version and "in force" in version
        scan.check(second, "versions page")
    finally:
        context.close()

    # The prescriber sees the new version.
    context, third = _new_context(browser)
    try:
        log_in(third, live_server, app, doctor)
        third.goto(live_server + "/protocols/followup_dictionary/forms/followup/print")
        body = third.locator("main").inner_text()
        assert "Tolerance problem" in body and "Weight (kg)" in body
        assert third.goto(draft_url).status == 403  # drafts are never shown to prescribers
    finally:
        context.close()

    print(f"axe: {scan.pages} builder pages; findings "
          + " ".join(f"{k}={v}" for k, v in sorted(scan.totals.items())))
    assert not scan.problems, "axe findings:\n" + "\n".join(scan.problems)


def test_a_draft_removing_a_field_with_stored_answers_is_refused_with_the_reason(
        app, db, page, live_server, axe) -> None:  # noqa: ANN001
    helpers.install_demo(db)
    site = helpers.site(db, helpers.FINESS_A, "Centre hospitalier Alpha")
    doctor = helpers.professional(db, "c.martin", site)
    patient = helpers.register(db, doctor, site)
    helpers.submit(db, doctor, patient, "initiation")
    helpers.submit(db, doctor, patient, "follow_up")
    author = helpers.lab_person(db, "a.auteur", Role.PHARMACIST_IN_CHARGE)
    scan = Axe(axe)

    log_in(page, live_server, app, author)
    page.goto(live_server + "/builder/")
    page.get_by_role("button", name="Start the draft").click()  # the version in force
    page.wait_for_selector("#text")
    page.get_by_role("link", name="Structured editor").click()
    page.get_by_role("button", name="Remove heart_rate").click()
    page.wait_for_selector("#structure-count")
    assert page.locator("#field-heart_rate").count() == 0
    page.get_by_role("link", name="Compare with the version in force").click()
    assert "follow_up.heart_rate: field removed" in page.locator("#breaks").inner_text()
    scan.check(page, "compare with a refused change")
    page.get_by_role("link", name="Definition text").click()
    page.get_by_role("button", name="Submit for approval").click()
    reasons = page.locator("#reasons").inner_text()
    assert "follow_up.heart_rate: field removed (stored submissions use it)" in reasons
    scan.check(page, "draft refused at submission")
    assert not scan.problems, "axe findings:\n" + "\n".join(scan.problems)
