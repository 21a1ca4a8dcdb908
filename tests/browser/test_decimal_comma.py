"""A French decimal comma typed in a protocol form reaches the server as typed."""

from __future__ import annotations

import pytest

from portal.protocols.loader import load_path
from portal.protocols.render import render_answers
from tests.records import helpers


@pytest.mark.parametrize("locale", ["fr-FR", "en-GB"])
def test_a_decimal_typed_with_a_comma_is_sent_as_typed(browser, locale: str) -> None:  # noqa: ANN001
    rendered = render_answers(load_path(helpers.DEMO_PROTOCOL), "follow_up", {}, "fr")
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        page.set_content(f'<!doctype html><html lang="fr"><body><form>{rendered}</form>'
                         "</body></html>")
        page.click("#f_weight_kg")
        page.keyboard.type("64,5")
        posted = page.evaluate(
            "() => new FormData(document.querySelector('form')).get('f_weight_kg')")
    finally:
        context.close()
    assert posted == "64,5"  # a number input would have sent "645"
