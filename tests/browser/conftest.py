"""Browser fixtures: Debian's Chromium driven by Playwright, the portal served from a thread."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers import threaded

CHROMIUM = os.environ.get("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():  # noqa: ANN201
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not installed at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app) -> Iterator[str]:  # noqa: ANN001
    """The test app served on a free loopback port, CSRF protection on as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    with threaded(app) as base:
        yield base


@pytest.fixture
def page(browser, live_server):  # noqa: ANN001, ANN201
    """A page in an English-speaking browser (the tests read the English message ids)."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def french_page(browser, live_server):  # noqa: ANN001, ANN201
    """A page in a French-speaking browser."""
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def log_in(page, base: str, app, user, *, acknowledge: bool = True) -> None:  # noqa: ANN001
    """Log in through the real login and code forms (the code computed with pyotp).

    With `acknowledge`, a first-login transparency notice is acknowledged on the way in.
    """
    from tests.helpers_auth import DEFAULT_PASSWORD, totp_code

    # English pages whatever the browser's language: the assertions read English text.
    page.goto(base + "/language/en")
    page.goto(base + "/login")
    page.fill("#login", user.login)
    page.fill("#password", DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("#code")
    page.fill("#code", totp_code(app, user))
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    if acknowledge and "/acknowledge" in page.url:
        page.check("#read")
        page.locator("form.acknowledge-form button[type=submit]").click()
        page.wait_for_load_state()
