"""The first browser walk: open the home page, switch the language."""

import pytest

pytestmark = pytest.mark.browser


def test_switching_language_changes_the_page(french_page, live_server) -> None:  # noqa: ANN001
    page = french_page
    page.goto(live_server + "/")
    assert page.locator("h1").inner_text().startswith("Suivi des patients")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.get_by_role("link", name="English").click()
    page.wait_for_url(live_server + "/")
    assert page.locator("h1").inner_text().startswith("Follow-up of patients")
    assert page.locator("html").get_attribute("lang") == "en"


def test_the_skip_link_is_the_first_tab_stop(page, live_server) -> None:  # noqa: ANN001
    page.goto(live_server + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"
