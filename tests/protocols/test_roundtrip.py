"""Generated valid definitions load, and generated valid answers survive validation, rendering
as HTML, re-posting what the HTML holds, and validating again."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from portal.protocols.builder import plain_form_class, validate_answers
from portal.protocols.loader import load_text
from portal.protocols.render import render_answers

TODAY = date(2025, 6, 1)
PATTERNS = [
    (r"^[A-Z]{2}[0-9]{3}$", 5),
    (r"^[0-9]{8}$", 8),
    (r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$", 7),
]
CODE_LIST = ["K1", "K2", "K3", "K4"]
TYPES = ["integer", "decimal", "date", "partial_date", "year", "yes_no", "single_choice",
         "multiple_choice", "coded", "calculated"]


def _field(draw: Any, kind: str, key: str, numeric: list[str]) -> dict[str, Any]:
    fld: dict[str, Any] = {"key": key, "type": kind, "category": "health", "put_ref": "§1",
                           "label": {"fr": f"Question {key}", "en": f"Question {key}"}}
    if kind == "integer":
        low = draw(st.integers(-1000, 1000))
        fld.update(min=low, max=low + draw(st.integers(0, 5000)))
    elif kind == "decimal":
        low = draw(st.integers(-100, 100))
        fld.update(min=low, max=low + draw(st.integers(1, 1000)), decimals=draw(st.integers(0, 3)))
    elif kind == "date":
        if draw(st.booleans()):
            fld["min"] = date(draw(st.integers(2000, 2020)), 1, 1)
        fld["max"] = "today"
    elif kind == "partial_date":
        fld["max"] = "today"
    elif kind == "year":
        fld["min"] = draw(st.integers(1900, 2000))
    elif kind == "yes_no":
        fld["unknown"] = draw(st.booleans())
    elif kind in ("single_choice", "multiple_choice"):
        fld["choices"] = [{"code": f"C{i}", "label": {"fr": f"Choix {i}", "en": f"Choice {i}"}}
                          for i in range(draw(st.integers(1, 5)))]
        if kind == "single_choice":
            fld["widget"] = draw(st.sampled_from(["radio", "select"]))
    elif kind == "coded":
        if draw(st.booleans()):
            fld["code_list"] = "demo_list"
        else:
            fld["pattern"], fld["max_length"] = draw(st.sampled_from(PATTERNS))
    else:
        fld.update(expression=f"round({draw(st.sampled_from(numeric))} * 2, 1)", decimals=1)
    if kind != "calculated":
        fld["required"] = draw(st.booleans())
    return fld


@st.composite
def definitions(draw: Any) -> dict[str, Any]:
    """A valid one-form definition using every kind of field, condition and repetition."""
    sections, numeric_top, choices_top, number = [], [], [], 0
    for index in range(draw(st.integers(1, 3))):
        repeated = index > 0 and draw(st.booleans())
        section: dict[str, Any] = {"key": f"s{index}", "title": {"fr": "Partie", "en": "Part"},
                                   "fields": []}
        if index > 0 and choices_top and draw(st.booleans()):
            key, code = draw(st.sampled_from(choices_top))
            section["visible_if"] = f"{key} == '{code}'"
        numeric_here = list(numeric_top)
        for position in range(draw(st.integers(1, 5))):
            kinds = [t for t in TYPES if t != "calculated" or (numeric_here and position)]
            kind = draw(st.sampled_from(kinds))
            fld = _field(draw, kind, f"q{number}", numeric_here)
            number += 1
            if not repeated and choices_top and draw(st.booleans()):
                key, code = draw(st.sampled_from(choices_top))
                fld["visible_if"] = f"{key} == '{code}'"
            section["fields"].append(fld)
            if kind in ("integer", "decimal"):
                numeric_here.append(fld["key"])
                if not repeated:
                    numeric_top.append(fld["key"])
            if not repeated and kind in ("single_choice", "yes_no"):
                codes = [c["code"] for c in fld["choices"]] if "choices" in fld else ["yes", "no"]
                choices_top += [(fld["key"], code) for code in codes]
        if repeated:
            section["repeat"] = {"max": draw(st.integers(1, 3))}
        sections.append(section)
    return {
        "schema_version": 1, "key": "generated", "version": "1",
        "title": {"fr": "Généré", "en": "Generated"},
        "product": {"name": "ABC-1", "code": "ABC-1"},
        "indications": [{"code": "IND-1", "label": {"fr": "Indication", "en": "Indication"}}],
        "ansm": {"put_sp_reference": "PUT-SP-ABC1", "publication_date": date(2025, 1, 15)},
        "schedule": {"timepoints": [{"code": "D0", "label": {"fr": "J0", "en": "D0"}, "day": 0}]},
        "summary_reports": {"periodicity_months": 6},
        "code_lists": {"demo_list": {"label": {"fr": "Liste", "en": "List"}, "codes": [
            {"code": c, "label": {"fr": c, "en": c}} for c in CODE_LIST]}},
        "forms": [{"key": "f", "title": {"fr": "Formulaire", "en": "Form"}, "kind": "other",
                   "put_ref": "Annexe", "sections": sections}],
    }


def _value(draw: Any, fld: dict[str, Any]) -> tuple[Any, Any]:
    """A valid value for a field: (what is posted, what validation must return)."""
    kind = fld["type"]
    if kind == "integer":
        value = draw(st.integers(fld["min"], fld["max"]))
        return value, value
    if kind == "decimal":
        scale = 10 ** fld["decimals"]
        units = draw(st.integers(fld["min"] * scale, fld["max"] * scale))
        value = Decimal(units).scaleb(-fld["decimals"])
        return str(value), format(value, "f")
    if kind == "date":
        low = fld.get("min", date(1990, 1, 1))
        value = low + timedelta(days=draw(st.integers(0, (TODAY - low).days)))
        return value.isoformat(), value.isoformat()
    if kind == "partial_date":
        text = f"{draw(st.integers(1950, 2024)):04d}-{draw(st.integers(1, 12)):02d}"
        return text, text
    if kind == "year":
        value = draw(st.integers(fld["min"], TODAY.year))
        return value, value
    if kind == "yes_no":
        value = draw(st.sampled_from(["yes", "no", "unknown"] if fld["unknown"] else ["yes", "no"]))
        return value, value
    if kind == "single_choice":
        value = draw(st.sampled_from([c["code"] for c in fld["choices"]]))
        return value, value
    if kind == "multiple_choice":
        codes = [c["code"] for c in fld["choices"]]
        chosen = draw(st.lists(st.sampled_from(codes), min_size=1, unique=True))
        return chosen, [c for c in codes if c in chosen]
    if "code_list" in fld:
        value = draw(st.sampled_from(CODE_LIST))
        return value, value
    value = draw(st.from_regex(fld["pattern"], fullmatch=True))
    return value, value


def _calculated(fld: dict[str, Any], known: dict[str, Any]) -> str | None:
    source = fld["expression"][len("round("):].split(" ")[0]
    if known.get(source) is None:
        return None
    return format((Decimal(str(known[source])) * 2).quantize(Decimal("0.1")), "f")


def _shown(condition: str | None, known: dict[str, Any]) -> bool:
    if condition is None:
        return True
    key, code = condition.split(" == ")
    return known.get(key) == code.strip("'")


def _answer_fields(draw: Any, fields: list[dict], scope: dict[str, Any], posted: dict,
                   expected: dict, section_shown: bool = True) -> None:
    for fld in fields:
        key = fld["key"]
        shown = section_shown and _shown(fld.get("visible_if"), scope)
        if fld["type"] == "calculated":
            value = _calculated(fld, scope) if shown else None
            scope[key] = value
            if value is not None:
                expected[key] = value
            continue
        answer = shown and (fld["required"] or draw(st.booleans()))
        if answer or (not shown and draw(st.booleans())):  # also post for hidden fields
            post, clean = _value(draw, fld)
            posted[key] = post
            if answer:
                expected[key] = clean
        scope[key] = expected.get(key) if shown else None


@st.composite
def filled(draw: Any) -> tuple[dict, dict, dict]:
    """A definition, answers to post, and the cleaned answers validation must return."""
    definition = draw(definitions())
    posted: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    scope: dict[str, Any] = {}
    for section in definition["forms"][0]["sections"]:
        shown = _shown(section.get("visible_if"), scope)
        if "repeat" not in section:
            _answer_fields(draw, section["fields"], scope, posted, expected, shown)
            continue
        entries, cleaned = [], []
        for _ in range(draw(st.integers(0, section["repeat"]["max"])) if shown else 0):
            entry, clean = {}, {}
            fields = [dict(f, required=True) if i == 0 and f["type"] != "calculated" else f
                      for i, f in enumerate(section["fields"])]
            _answer_fields(draw, fields, dict(scope), entry, clean)
            if not entry:
                continue  # a blank entry is no entry
            entries.append(entry)
            cleaned.append(clean)
        if entries:
            posted[section["key"]] = entries
            expected[section["key"]] = cleaned
    return definition, posted, expected


class _Controls(HTMLParser):
    """What a browser would post from the rendered markup."""

    def __init__(self) -> None:
        super().__init__()
        self.data: MultiDict = MultiDict()
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input":
            kind, name = attributes.get("type"), attributes.get("name")
            if kind in ("radio", "checkbox"):
                if "checked" in attributes:
                    self.data.add(name, attributes["value"])
            elif "value" in attributes:
                self.data.add(name, attributes["value"])
        elif tag == "select":
            self.select = attributes["name"]
        elif tag == "option" and "selected" in attributes and self.select:
            self.data.add(self.select, attributes["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filled())
def test_generated_definitions_render_and_validate_round_trip(case):
    definition, posted, expected = case
    text = yaml.safe_dump(definition, allow_unicode=True, sort_keys=False)
    loaded = load_text(text, "generated.yaml")  # valid definitions pass every rule

    result = validate_answers(loaded, "f", posted, today=TODAY)
    assert result.errors == {}
    assert result.answers == expected

    controls = _Controls()
    controls.feed(render_answers(loaded, "f", result.answers, "en"))
    form = plain_form_class(loaded, "f")(formdata=controls.data)
    assert form.validate(today=TODAY), form.errors
    assert form.answers() == expected
