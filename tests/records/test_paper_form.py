"""The paper form says its conditions as sentences, prints the lists it refers to, and offers
exactly the web form's choices."""

from __future__ import annotations

import html
import re

import pytest

from portal.protocols.loader import load_path
from portal.protocols.phrasing import sentence
from tests.helpers_auth import login
from tests.records import helpers

DEMO = load_path(helpers.DEMO_PROTOCOL).definition
FORM_KEYS = [form.key for form in DEMO.forms]


def _print_page(client, form_key: str, lang: str) -> str:  # noqa: ANN001
    response = client.get(f"/protocols/{helpers.PROTOCOL_KEY}/forms/{form_key}/print?lang={lang}")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_conditions_print_as_sentences_in_the_page_language(db, client, prescriber) -> None:
    login(client, prescriber)
    given = DEMO.form("initiation")
    label = next(f for s in given.sections for f in s.fields if f.key == "info_note_given").label
    french = _print_page(client, "initiation", "fr")
    assert f"Uniquement si : « {label.fr} » est « Oui »" in french
    english = _print_page(client, "initiation", "en")
    assert f"Only if: “{label.en}” is “Yes”" in english
    for form_key in FORM_KEYS:
        for page in (_print_page(client, form_key, "fr"), _print_page(client, form_key, "en")):
            paper = page[page.index('<article class="paper-form">'):page.index("</article>")]
            assert "==" not in paper and "!=" not in paper, form_key
            assert not re.search(r"\bnot in\b|\bnull\b|'\w+'", paper), form_key


def test_a_list_condition_names_the_choices_by_their_labels(app) -> None:
    follow_up = DEMO.form("follow_up")
    fields = {f.key: f for s in follow_up.sections for f in s.fields}

    def describe(key: str):  # noqa: ANN202
        field = fields[key]
        return field.label.en, {c.code: c.label.en for c in getattr(field, "choices", [])}

    with app.test_request_context("/?lang=en"):
        said = sentence("dose_change in ['reduced', 'increased', 'interrupted']", describe)
        labels = {c.code: c.label.en for c in fields["dose_change"].choices}
        assert said == (f"“{fields['dose_change'].label.en}” is “{labels['reduced']}”, "
                        f"“{labels['increased']}” or “{labels['interrupted']}”")
        assert sentence("dose_change == null", describe).endswith("is not answered")
        assert sentence("not (dose_change != 'none' or dose_change == null)", describe) \
            .startswith("not (")


def _web_options(page: str) -> dict[str, list[str]]:
    """Field key → the option labels of the web form (radio, checkbox and select); a repeated
    section's first entry stands for the others."""
    options: dict[str, list[str]] = {}
    for name, label in re.findall(
            r'<label class="pf-option"><input type="\w+" name="([^"]+)"[^>]*> ([^<]*)</label>',
            page):
        if not re.search(r"-[1-9]\d*-f_", name):
            options.setdefault(re.sub(r"^.*f_", "", name), []).append(label)
    for name, body in re.findall(r'<select id="([^"]+)" name="[^"]+"[^>]*>(.*?)</select>', page,
                                 re.S):
        if not re.search(r"-[1-9]\d*-f_", name):
            options[re.sub(r"^.*f_", "", name)] = [
                t for t in re.findall(r">([^<]*)</option>", body) if t != "—"]
    return options


def _paper_options(page: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for key, body in re.findall(r'<div class="paper-field" data-field="([^"]+)">(.*?)</div>',
                                page, re.S):
        options[key] = re.findall(r'<li><span class="box" aria-hidden="true">☐</span> ([^<]*)'
                                  r"</li>", body)
    for key, listed in re.findall(r'<p class="paper-codes" data-field="([^"]+)"><strong>[^<]*'
                                  r"</strong>: [^:]*: ([^—<]*(?:—[^—<]*)*?)(?: — |</p>)", page):
        options[key] = listed.split("; ")
    return {key: found for key, found in options.items() if found}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_paper_and_web_offer_the_same_choices(db, client, prescriber, site_a, lang) -> None:
    patient = helpers.register(db, prescriber, site_a)
    login(client, prescriber)
    compared = 0
    for form_key in FORM_KEYS:
        response = client.get(f"/patients/{patient.handle}/forms/{form_key}?lang={lang}")
        if response.status_code != 200:
            continue
        web = _web_options(html.unescape(response.get_data(as_text=True)))
        paper = _paper_options(_print_page(client, form_key, lang))
        for key, labels in web.items():
            assert key in paper, (form_key, key)
            assert paper[key] == labels, (form_key, key, paper[key], labels)
            compared += 1
        assert set(paper) <= set(web), (form_key, set(paper) - set(web))
    assert compared > 30


def test_coded_fields_print_their_list(db, client, prescriber) -> None:
    login(client, prescriber)
    for form in DEMO.forms:
        page = _print_page(client, form.key, "fr")
        for section in form.sections:
            for field in section.fields:
                if field.type == "coded" and field.code_list:
                    for code in DEMO.code_lists[field.code_list].codes:
                        assert f"{code.code} — {code.label.fr}" in page, (field.key, code.code)
                    assert field.code_list not in page  # no list named and left unprinted
