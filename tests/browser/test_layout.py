"""The layout in Chromium: the code page's Cancel is not a main button; the header of the
person with the most menu entries fits on one line at 1280 px, in French and in English."""

from __future__ import annotations

import pytest

from portal import demo
from portal.accounts.demo import DEMO_PASSWORD, current_demo_code
from portal.db import new_session
from tests.helpers_auth import CHEAP_ARGON2

HEADER_ROWS = """() => {
  const tops = Array.from(document.querySelector(".site-header").children,
                          e => Math.round(e.getBoundingClientRect().top));
  return [Math.min(...tops), Math.max(...tops),
          document.querySelector(".site-header").getBoundingClientRect().height];
}"""


@pytest.fixture
def app_config(app_config):  # noqa: ANN001, ANN201
    # The demo team (development only) has every role and its grants.
    return {**app_config, "ENV": "development", "PASSWORD_HASHER": CHEAP_ARGON2}


@pytest.fixture
def seeded(app):  # noqa: ANN001, ANN201
    demo.seed(app)
    return app


def _to_code_page(page, base: str, login: str, language: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/language/{language}")
    page.goto(base + "/login")
    page.fill("#login", login)
    page.fill("#password", DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("#code")


def _log_in(page, base: str, app, login: str, language: str) -> None:  # noqa: ANN001
    _to_code_page(page, base, login, language)
    with new_session(app) as session:
        code = current_demo_code(app, session, login).code
    page.fill("#code", code)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    if "/acknowledge" in page.url:
        page.check("#read")
        page.locator("form.acknowledge-form button[type=submit]").click()
        page.wait_for_load_state()


def _style(page, selector: str, prop: str) -> str:  # noqa: ANN001
    return page.eval_on_selector(selector, f"e => getComputedStyle(e)['{prop}']")


def test_the_code_page_cancel_does_not_look_like_the_main_button(
    seeded, page, live_server: str  # noqa: ANN001
) -> None:
    _to_code_page(page, live_server, "c.martin", "en")
    main = "main form:not(.inline-form) button[type=submit]"
    cancel = "main form.inline-form button"
    assert page.inner_text(cancel) == "Cancel"
    assert _style(page, main, "backgroundColor") == "rgb(0, 0, 145)"
    assert _style(page, cancel, "backgroundColor") == "rgb(255, 255, 255)"
    assert _style(page, cancel, "color") == "rgb(0, 0, 145)"


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("login", ["h.petit", "i.laurent"])
def test_the_header_fits_on_one_line_at_1280_px(
    seeded, browser, live_server: str, login: str, language: str  # noqa: ANN001
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        _log_in(page, live_server, seeded, login, language)
        assert page.locator(".site-header nav li").count() >= 4  # the full menu is there
        top, bottom, height = page.evaluate(HEADER_ROWS)
        assert bottom - top <= 6, f"the header wraps: rows at {top} and {bottom} px"
        assert height < 60
    finally:
        context.close()
