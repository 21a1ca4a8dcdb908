"""Damaged definitions and import files get a located error, never a traceback.

Valid sources (the demo protocol, the REDCap and ODM samples) are damaged at random: lines
dropped, repeated or swapped, characters replaced by the ones their syntax cares about, the text
cut short. The loader and the importers must either accept the result or refuse it with their
own error (`ProtocolDefinitionError`, `ImportFormatError`); any other exception would reach the
person running `portal protocol check` or `import-*` as a traceback.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.protocols.importers.common import ImportFormatError, dump_yaml
from portal.protocols.importers.odm import import_odm
from portal.protocols.importers.redcap import import_redcap
from portal.protocols.loader import ProtocolDefinitionError, load_text

from .support import DATA, DEMO

SYNTAX = list(",;\"'|:-[]{}()<>=&#!\n\t ") + ["0", "9", "x", "é", "\x00", "\ufeff", "yes"]
DEMO_TEXT = DEMO.read_text(encoding="utf-8")
REDCAP_TEXT = (DATA / "redcap" / "followup_ui.csv").read_text(encoding="utf-8")
EVENTS_TEXT = (DATA / "redcap" / "events.csv").read_text(encoding="utf-8")
ODM_TEXT = (DATA / "odm" / "study.xml").read_text(encoding="utf-8")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def damaged(draw: st.DrawFn, text: str) -> str:
    """`text` after a few random edits of the kinds that break a parser."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["drop", "repeat", "swap", "char", "cut"]))
        where = draw(st.integers(min_value=0, max_value=max(0, len(lines) - 1)))
        if not lines:
            break
        if kind == "drop":
            del lines[where]
        elif kind == "repeat":
            lines.insert(where, lines[where])
        elif kind == "swap":
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[where], lines[other] = lines[other], lines[where]
        elif kind == "char":
            line = lines[where]
            at = draw(st.integers(min_value=0, max_value=max(0, len(line) - 1)))
            lines[where] = line[:at] + draw(st.sampled_from(SYNTAX)) + line[at + 1:]
        else:
            lines[where] = lines[where][:draw(st.integers(min_value=0,
                                                           max_value=len(lines[where])))]
            del lines[where + 1:]
    return "".join(lines)


@FUZZ
@given(text=damaged(DEMO_TEXT))
def test_a_damaged_definition_is_refused_with_a_located_problem(text: str) -> None:
    try:
        load_text(text, "put-sp-demo.yaml")
    except ProtocolDefinitionError as error:
        assert error.problems
        assert all(problem.line >= 1 for problem in error.problems)


@FUZZ
@given(dictionary=damaged(REDCAP_TEXT), events=st.one_of(st.none(), damaged(EVENTS_TEXT)))
def test_a_damaged_redcap_dictionary_is_a_located_error(dictionary: str,
                                                        events: str | None) -> None:
    try:
        definition, _report = import_redcap(dictionary, "dict.csv", events)
    except ImportFormatError as error:
        assert str(error).startswith(("dict.csv:", "events.csv:", "dict.csv", "events.csv"))
        return
    # What was imported passes the checks (whatever could not be carried is left out).
    load_text(dump_yaml(definition, "dict.csv"), "imported.yaml")


@FUZZ
@given(text=damaged(ODM_TEXT))
def test_a_damaged_odm_study_is_a_located_error(text: str) -> None:
    try:
        definition, _report = import_odm(text, "study.xml")
    except ImportFormatError as error:
        assert str(error).startswith("study.xml")
        return
    load_text(dump_yaml(definition, "study.xml"), "imported.yaml")
