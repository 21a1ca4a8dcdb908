"""The DPO writes and publishes the transparency notice; a professional acknowledges it at first
login; an anonymous visitor reads it; the DPO sees the acknowledgement."""

from __future__ import annotations

import re

import pytest

from portal.permissions import Role
from tests.browser.conftest import log_in
from tests.helpers_auth import make_user

pytestmark = pytest.mark.browser





def test_the_dpo_publishes_and_a_professional_acknowledges_at_first_login(
    app, db, browser, page, live_server
) -> None:
    dpo = make_user(db, "i.laurent", role=Role.DPO, first_name="Isabelle", last_name="Laurent")
    doctor = make_user(db, "c.martin", role=Role.PRESCRIBER, first_name="Claire",
                       last_name="Martin")

    # The DPO writes the first version of the transparency notice.
    log_in(page, live_server, app, dpo, acknowledge=False)
    page.get_by_role("link", name="Notices", exact=True).click()
    row = page.get_by_role("row", name=re.compile("Information for users of the portal"))
    row.get_by_role("button", name="Write this notice").click()
    page.wait_for_url(re.compile(r"/notices/manage/versions/\d+/edit$"))
    page.fill("#controller_address", "Laboratoire Exemple SAS\n12 rue des Lilas, 69007 Lyon")
    page.get_by_label("Yes, the laboratory is established in the EU").check()
    page.fill("#dpo_contact", "Isabelle Laurent, i.laurent@example.org")
    page.get_by_label("No transfer outside the EU").check()
    page.fill("#security_contact", "securite@example.org")
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_url(re.compile(r"/notices/manage/versions/\d+$"))
    assert page.get_by_text("Every mandatory slot is filled.").is_visible()
    page.get_by_role("button", name="Approve and publish").click()

    # Publishing done, the DPO too reads and acknowledges it before going on.
    page.wait_for_url(re.compile(r"/notices/acknowledge"))
    page.get_by_label(re.compile("I have read this information and the IT charter")).check()
    page.get_by_role("button", name="Confirm and continue").click()
    page.wait_for_url(re.compile(r"/notices/manage/versions/\d+$"))
    assert page.get_by_text("In force", exact=True).is_visible()

    # Anyone can read it, without logging in.
    anonymous = browser.new_context(locale="en-GB")
    try:
        visitor = anonymous.new_page()
        visitor.goto(live_server + "/notices/transparency?lang=en")
        assert visitor.locator("h1").first.inner_text() == "Information for users of the portal"
        assert visitor.get_by_text("Isabelle Laurent, i.laurent@example.org").is_visible()
        assert anonymous.cookies() == []
    finally:
        anonymous.close()

    # The professional's first login: the notice and the charter before anything else.
    second = browser.new_context(locale="fr-FR")
    try:
        as_doctor = second.new_page()
        as_doctor.set_default_timeout(10_000)
        log_in(as_doctor, live_server, app, doctor, acknowledge=False)
        assert "/notices/acknowledge" in as_doctor.url
        assert as_doctor.get_by_role("heading", name="The IT charter").is_visible()
        assert as_doctor.get_by_role("heading", name="Sanctions").is_visible()
        as_doctor.goto(live_server + "/account")
        assert "/notices/acknowledge" in as_doctor.url  # no way around it
        as_doctor.get_by_role("button", name="Confirm and continue").click()
        # The error shows beside the box, and the summary at the top links to it.
        refusal = "Tick the box to confirm that you have read the information and the charter."
        assert as_doctor.get_by_text(refusal, exact=True).is_visible()
        assert as_doctor.locator("#error-summary a[href='#read']").is_visible()
        as_doctor.get_by_label(re.compile("I have read this information")).check()
        as_doctor.get_by_role("button", name="Confirm and continue").click()
        as_doctor.wait_for_url(live_server + "/account")
        assert "/notices/acknowledge" not in as_doctor.url
    finally:
        second.close()

    # The DPO sees who acknowledged which version.
    page.goto(live_server + "/notices/manage/acknowledgements")
    table = page.locator("main table")
    assert table.get_by_role("row", name=re.compile("Claire Martin c.martin Version 1")).count() \
        == 1
    assert table.get_by_role("row", name=re.compile("Isabelle Laurent i.laurent Version 1")) \
        .count() == 1


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_patient_note_prints_on_two_pages(app, db, page, live_server, lang) -> None:
    from portal.notices.demo import seed_demo

    seed_demo(app, db)
    db.commit()
    page.goto(f"{live_server}/notices/patient?lang={lang}")
    page.emulate_media(media="print")

    pdf = page.pdf(format="A4")

    # INF-04: a plain-language note of at most two pages, without the site's menus.
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) <= 2
    assert not page.locator(".site-header").is_visible()
    assert page.locator("h1").first.is_visible()
