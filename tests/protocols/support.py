"""Paths and helpers shared by the protocol tests."""

from __future__ import annotations

from pathlib import Path

from portal.protocols.loader import Problem, check_path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "protocols"
DEMO = ROOT / "forms" / "put-sp-demo.yaml"

#: French translations of a few messages, as the lead's catalogue will provide them.
FRENCH = {
    "This field is required.": "Ce champ est obligatoire.",
    "Enter a number between %(min)s and %(max)s.": "Saisissez un nombre entre %(min)s et %(max)s.",
    "Choose one of the listed answers.": "Choisissez une des réponses proposées.",
    "Enter a whole number.": "Saisissez un nombre entier.",
    "Yes": "Oui",
    "No": "Non",
}


def problems(name: str) -> list[Problem]:
    """The problems the loader reports for a fixture file."""
    return check_path(DATA / name)


def position(name: str, needle: str, after: str | None = None) -> tuple[int, int]:
    """Line and column (1-based) where `needle` starts in a fixture, after the line `after`."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line)
    for number, line in enumerate(lines[start:], start + 1):
        column = line.find(needle)
        if column >= 0:
            return number, column + 1
    raise AssertionError(f"{needle!r} not in {name}")


def located(name: str, needle: str, rule: str, field: str | None = None) -> str:
    """The start of a problem's text: file:line:column: [rule] field 'key':

    The position is that of `needle` within the field's definition (after `key: <field>`).
    """
    after = None
    if field:
        after = f'"key": "{field}"' if name.endswith(".json") else f"key: {field}"
    line, column = position(name, needle, after)
    subject = f" field {field!r}:" if field else ""
    return f"{DATA / name}:{line}:{column}: [{rule}]{subject}"


def only_problem(name: str) -> Problem:
    """The single problem of a fixture that breaks exactly one rule."""
    found = problems(name)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]
