"""Public notice pages: no login, no cookie, French and English, printable (INF-05)."""

from __future__ import annotations

import re

import pytest

from portal.config import PROJECT_ROOT
from portal.notices import services
from portal.notices.catalog import Audience
from tests.notices.conftest import CLI, publish_notice

TITLES = {
    Audience.PATIENT: ("Note d'information destinée au patient",
                       "Information note for the patient"),
    Audience.RELATIVE: ("Note d'information destinée aux proches",
                        "Information note for relatives affected by the medicine"),
    Audience.PROFESSIONAL: ("Information des professionnels de santé",
                            "Information for healthcare professionals"),
    Audience.TRANSPARENCY: ("Information des utilisateurs du portail",
                            "Information for users of the portal"),
    Audience.WEBSITE: ("Protection des données personnelles : programme d'accès compassionnel",
                       "Personal data protection: compassionate access programme"),
}


def _text(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True).replace("&#39;", "'")


def _assert_no_cookie(response) -> None:  # noqa: ANN001
    assert "Set-Cookie" not in response.headers, response.headers.get("Set-Cookie")


@pytest.fixture
def published(db) -> None:
    for audience in Audience:
        publish_notice(db, audience)


@pytest.mark.parametrize("audience", list(Audience))
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_each_notice_answers_an_anonymous_visitor_without_a_cookie(
    client, published, audience, lang
) -> None:
    response = client.get(f"/notices/{audience.value}?lang={lang}")

    assert response.status_code == 200
    _assert_no_cookie(response)
    page = _text(response)
    assert f'<html lang="{lang}">' in page
    assert TITLES[audience][0 if lang == "fr" else 1] in page
    assert "Laboratoire Exemple SAS" in page
    assert "csrf_token" not in page


def test_the_other_pages_set_no_cookie_either(client, published, db) -> None:
    publish_notice(db, Audience.PATIENT, retention={"fr": "Cinq ans.", "en": "Five years."})
    for path in ("/notices/", "/notices/?lang=en", "/notices/patient/versions?lang=en",
                 "/notices/patient/v1?lang=fr", "/notices/patient/v9", "/notices/nobody"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        _assert_no_cookie(response)


def test_links_on_a_public_page_keep_its_language(client, published, db) -> None:
    publish_notice(db, Audience.PATIENT, retention={"fr": "Cinq ans.", "en": "Five years."})

    page = _text(client.get("/notices/patient?lang=en"))

    assert 'href="/notices/patient?lang=fr"' in page  # the language switch stays on the page
    assert 'href="/notices/?lang=en"' in page
    assert 'href="/notices/patient/versions?lang=en"' in page
    assert "/language/" not in page  # the cookie-setting switch is not offered here


def test_without_lang_the_browser_language_is_used(client, published) -> None:
    english = client.get("/notices/website", headers={"Accept-Language": "en-GB,en;q=0.9"})
    french = client.get("/notices/website", headers={"Accept-Language": "fr-FR"})

    assert TITLES[Audience.WEBSITE][1] in _text(english)
    assert TITLES[Audience.WEBSITE][0] in _text(french)
    _assert_no_cookie(english)


@pytest.mark.parametrize("audience", list(Audience))
def test_a_notice_never_published_is_a_clear_404(client, audience) -> None:
    response = client.get(f"/notices/{audience.value}?lang=en")

    assert response.status_code == 404
    _assert_no_cookie(response)
    assert "This notice has not been published yet." in _text(response)


def test_an_unknown_notice_or_version_is_a_404(client, published, db) -> None:
    services.start_draft(db, CLI, Audience.PATIENT)  # version 2, a draft
    db.commit()
    assert client.get("/notices/shareholders").status_code == 404
    assert client.get("/notices/patient/v2").status_code == 404
    assert client.get("/notices/patient/v7").status_code == 404
    assert client.get("/notices/patient/v0").status_code == 404


def test_a_draft_is_never_public(client, db) -> None:
    publish_notice(db, Audience.PATIENT)
    draft = services.start_draft(db, CLI, Audience.PATIENT)
    services.update_draft(db, CLI, draft, {**draft.slots, "retention": {
        "fr": "Brouillon secret.", "en": "Secret draft."}})
    db.commit()

    assert client.get("/notices/patient/v2").status_code == 404
    assert "Secret draft." not in _text(client.get("/notices/patient?lang=en"))


def test_an_earlier_version_stays_readable_and_points_to_the_current_one(client, db) -> None:
    publish_notice(db, Audience.PATIENT)
    publish_notice(db, Audience.PATIENT, retention={"fr": "Cinq ans.", "en": "Five years."})

    old = _text(client.get("/notices/patient/v1?lang=en"))
    current = _text(client.get("/notices/patient?lang=en"))
    history = _text(client.get("/notices/patient/versions?lang=en"))

    assert "This version was replaced on" in old
    assert 'href="/notices/patient?lang=en"' in old
    assert "Five years." not in old and "Version 1, published on" in old
    assert "Five years." in current and "Version 2, published on" in current
    assert re.search(r"Version 2</a>\s*\(in force\)", history)
    assert 'href="/notices/patient/v1?lang=en"' in history


def test_the_notice_pages_are_printable(client, published) -> None:
    page = _text(client.get("/notices/patient?lang=fr"))

    assert '<link rel="stylesheet" href="/static/notices.css">' in page
    stylesheet = (PROJECT_ROOT / "static" / "notices.css").read_text()
    print_rules = stylesheet[stylesheet.index("@media print"):]
    for hidden in (".site-header", ".site-footer", ".notice-tools"):
        assert hidden in print_rules
    assert client.get("/static/notices.css").status_code == 200


@pytest.mark.parametrize("path", ["/", "/notices/", "/login", "/notices/patient"])
def test_every_page_links_to_the_notices_in_its_footer(client, path) -> None:
    page = _text(client.get(path))
    footer = page[page.index('<footer class="site-footer">'):]
    assert '<a href="/notices/">' in footer


def test_the_index_lists_what_is_published(client, db) -> None:
    publish_notice(db, Audience.PATIENT)

    page = _text(client.get("/notices/?lang=en"))

    assert 'href="/notices/patient?lang=en"' in page
    assert "Information note for patients" in page
    assert page.count("Not published yet.") == len(Audience) - 1
