"""Messages and labels follow the request's locale (Flask-Babel), through the Flask form."""

from __future__ import annotations

import pytest

from portal.protocols.builder import form_class
from portal.protocols.render import render_form

POST = {"f_weight_kg": "300", "f_height_cm": "abc", "f_sex": "X"}


def posted_errors(app, demo, lang):
    with app.test_request_context(f"/?lang={lang}", method="POST", data=POST):
        form = form_class(demo, "access")()  # FlaskForm reads request.form itself
        assert not form.validate_on_submit()
        return {name: [str(m) for m in messages] for name, messages in form.errors.items()}


def test_english_messages_are_the_msgids(babel_app, demo):
    errors = posted_errors(babel_app, demo, "en")
    assert errors["f_weight_kg"] == ["Enter a number between 0.5 and 250."]
    assert errors["f_height_cm"] == ["Enter a whole number."]
    assert errors["f_sex"] == ["Choose one of the listed answers."]
    assert errors["f_indication"] == ["This field is required."]


def test_french_messages_come_from_the_catalogue(babel_app, demo):
    errors = posted_errors(babel_app, demo, "fr")
    assert errors["f_weight_kg"] == ["Saisissez un nombre entre 0.5 et 250."]
    assert errors["f_height_cm"] == ["Saisissez un nombre entier."]
    assert errors["f_sex"] == ["Choisissez une des réponses proposées."]
    assert errors["f_indication"] == ["Ce champ est obligatoire."]


@pytest.mark.parametrize(
    ("lang", "label", "check", "yes"),
    [
        ("fr", "Poids", "Tous les critères d&#39;octroi doivent être remplis.", "Oui"),
        ("en", "Weight", "All granting criteria must be met.", "Yes"),
    ],
)
def test_labels_and_check_messages_follow_the_locale(babel_app, demo, lang, label, check, yes):
    data = {"f_crit_diagnosis_confirmed": "no"}
    with babel_app.test_request_context(f"/?lang={lang}", method="POST", data=data):
        form = form_class(demo, "access")()
        form.validate()
        html = render_form(form)
    assert f'<label for="f_weight_kg">{label} ' in html
    assert check in html
    assert f'value="yes"> {yes}</label>' in html


def test_the_csrf_token_is_checked_when_enabled(babel_app, demo):
    babel_app.config["WTF_CSRF_ENABLED"] = True
    with babel_app.test_request_context("/?lang=en", method="POST", data=POST):
        form = form_class(demo, "access")()
        assert not form.validate_on_submit()
        assert "csrf_token" in form.errors
