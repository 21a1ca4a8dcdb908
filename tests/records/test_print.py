"""Each protocol form has a printable blank version matching its definition."""

from __future__ import annotations

import html

import pytest

from portal.protocols.loader import load_path
from tests.helpers_auth import login
from tests.records import helpers

DEMO = load_path(helpers.DEMO_PROTOCOL).definition


@pytest.mark.parametrize("form_key", [form.key for form in DEMO.forms])
def test_printable_form_matches_the_definition(db, client, prescriber, form_key):
    login(client, prescriber)
    response = client.get(f"/protocols/{helpers.PROTOCOL_KEY}/forms/{form_key}/print?lang=fr")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    form = DEMO.form(form_key)
    assert form.title.fr in page and form.put_ref in page
    for section in form.sections:
        assert section.title.fr in page
        for field in section.fields:
            assert field.label.fr in page, field.key
            for choice in getattr(field, "choices", []):
                assert choice.label.fr in page, (field.key, choice.code)
    assert "records-static/records.css" in page
    paper = page[page.index('<article class="paper-form">'):page.index("</article>")]
    assert "<input" not in paper and "<select" not in paper  # blank paper, no data


def test_print_stylesheet_is_served(client):
    response = client.get("/records-static/records.css")
    assert response.status_code == 200
    assert "@media print" in response.get_data(as_text=True)


def test_unknown_form_is_not_found(db, client, prescriber):
    login(client, prescriber)
    assert client.get(f"/protocols/{helpers.PROTOCOL_KEY}/forms/nope/print").status_code == 404
