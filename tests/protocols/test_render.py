"""HTML rendering: markup built once per version and locale, values and errors filled in."""

from __future__ import annotations

import html as html_lib
import json
import re

from werkzeug.datastructures import MultiDict

from portal.protocols.builder import plain_form_class
from portal.protocols.render import fill, render_answers, render_form, skeleton


def test_stored_answers_are_shown_in_their_inputs(demo):
    html = render_answers(demo, "follow_up", {
        "visit_timepoint": "M3", "visit_date": "2025-05-20", "visit_mode": "remote",
        "weight_kg": "70.5", "bmi": "24.4", "any_concomitant": "yes",
        "concomitant": [{"cm_atc": "J02AC02", "cm_ongoing": "yes"}],
    }, "en")
    assert '<option value="M3" selected>M3</option>' in html
    assert 'name="f_visit_date" min="2020-01-01" value="2025-05-20">' in html
    assert 'value="remote" checked> Teleconsultation' in html
    assert 'name="f_weight_kg" inputmode="decimal" step="0.1" min="0.5" max="250" value="70.5"' \
        in html
    assert '<output id="f_bmi" name="f_bmi">24.4</output>' in html
    assert '<option value="J02AC02" selected>J02AC02 — Itraconazole</option>' in html
    assert html.count('class="pf-entry"') == 10  # every row of the repeated section


def test_values_are_escaped(demo):
    html = render_answers(demo, "access", {"aac_ansm_ref": '"><script>alert(1)</script>'}, "fr")
    assert "<script>" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


def test_conditions_are_in_the_markup_for_an_optional_script(demo):
    html = render_answers(demo, "initiation", {}, "en")
    shown_if = re.search(r"id=\"w-f_info_note_date\" data-show-if='([^']+)'", html).group(1)
    assert json.loads(html_lib.unescape(shown_if)) == ["==", ["ref", "info_note_given"],
                                                      ["lit", "yes"]]
    assert " required" not in html  # hidden required fields must not block a script-less page


def test_a_posted_form_shows_what_was_typed_and_the_errors(demo):
    form = plain_form_class(demo, "access")(formdata=MultiDict({
        "f_weight_kg": "300", "f_height_cm": "abc",
    }))
    form.validate()
    html = render_form(form, "en")
    assert 'value="abc" aria-invalid="true">' in html
    assert '<ul class="pf-errors"><li>Enter a whole number.</li></ul>' in html


def test_the_markup_is_built_once_per_version_form_and_locale(demo):
    assert skeleton(demo, "follow_up", "fr") is skeleton(demo, "follow_up", "fr")
    assert skeleton(demo, "follow_up", "fr") is not skeleton(demo, "follow_up", "en")


def test_no_input_of_a_protocol_form_cuts_what_is_typed(demo):
    """A maxlength would let a browser cut a pasted NIR down to a valid code (issue 13)."""
    for form in demo.definition.forms:
        for locale in ("en", "fr"):
            html = "".join(p for p in skeleton(demo, form.key, locale) if isinstance(p, str))
            assert "maxlength" not in html, form.key


def test_the_words_of_the_markup_reach_the_translation_catalogue():
    """Message extraction finds them: `_l()` inside an f-string is invisible to it."""
    from pathlib import Path

    from babel.messages.extract import extract_from_file

    import portal.protocols.render as render

    found = {message for _line, message, _comments, _context in extract_from_file(
        "python", Path(render.__file__), keywords={"_l": None})}
    assert {"required", "Entry %(n)s"} <= found


def _entries(html: str, section: str) -> list[tuple[bool, str]]:
    """(hidden, markup) of each entry of a repeated section."""
    found = re.findall(rf'<fieldset class="pf-entry" data-entry-prefix="s_{section}-\d+-"'
                       rf'( hidden)?>(.*?)</fieldset>', html, re.S)
    return [(bool(hidden), body) for hidden, body in found]


def test_a_repeated_section_shows_one_entry_marked_required_only_where_it_is(demo):
    html = render_answers(demo, "initiation", {}, "en")
    comorbidities = _entries(html, "comorbidities")
    assert len(comorbidities) == 8
    assert [hidden for hidden, _body in comorbidities] == [False] + [True] * 7
    # No entry is needed (min 0): no field of an entry is marked required.
    assert not any("pf-required" in body for _hidden, body in comorbidities)
    prior = _entries(html, "prior_treatments")  # min 1: the first entry's fields are required
    assert "pf-required" in prior[0][1] and not any("pf-required" in b for _h, b in prior[1:])
    assert 'data-add-label="Add an entry"' in html


def test_every_entry_in_use_is_shown(demo):
    html = render_answers(demo, "follow_up", {
        "concomitant": [{"cm_atc": "J02AC02"}, {"cm_atc": "J02AC03"}, {"cm_atc": "J01FA09"}]},
        "en")
    assert [hidden for hidden, _b in _entries(html, "concomitant")] == [False] * 3 + [True] * 7
    html = fill(skeleton(demo, "follow_up", "en"), {}, {"s_concomitant-4-f_cm_atc": ["x"]})
    shown = [hidden for hidden, _b in _entries(html, "concomitant")]
    assert shown == [False] * 5 + [True] * 5  # up to the entry with an error
