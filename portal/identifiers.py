"""Identifier formats: RPPS and FINESS validation, NIR/INS refusal, patient initials (MIN-01/04/08).

Sources: domain-requirements.md section 2.3. The NIR and INS detector refuses such values typed
in any string input (MIN-04); callers log the refusal without the value.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

RPPS_LENGTH = 11
SURNAME_LETTERS = 3
FIRST_NAME_LETTERS = 2

# --- RPPS and FINESS -------------------------------------------------------------------------

_RPPS = re.compile(r"[0-9]{11}")
_FINESS = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{7}")


def luhn_is_valid(digits: str) -> bool:
    """Tell whether a string of ASCII digits ends with a correct Luhn check digit."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_valid_rpps(s: str) -> bool:
    """Tell whether ``s`` is an RPPS number: exactly 11 digits, the last a Luhn check digit."""
    return bool(_RPPS.fullmatch(s)) and luhn_is_valid(s)


def normalise_rpps(s: str) -> str | None:
    """Return the 11-digit RPPS from a typed value or from the national id "8" + RPPS, else None.

    Plage and Pro Santé Connect return the 12-character national identifier; the portal
    stores the 11-digit form (domain-requirements 2.3).
    """
    candidate = re.sub(r"\s+", "", s)
    if len(candidate) == RPPS_LENGTH + 1 and candidate.startswith("8"):
        candidate = candidate[1:]
    return candidate if is_valid_rpps(candidate) else None


def is_valid_finess(s: str) -> bool:
    """Tell whether ``s`` is a FINESS number: 9 characters, département first, Luhn check key.

    Rule used: the 9 digits must pass the Luhn check (the 9th is the key over the first 8),
    which real numbers such as 750712184 (AP-HP) or 330781196 (CHU de Bordeaux) satisfy.
    The key algorithm for Corsican numbers (2A/2B) could not be confirmed from a primary
    source, so for them only the format is checked rather than risk refusing real numbers.
    """
    if not _FINESS.fullmatch(s):
        return False
    if s[1] in "AB":
        return True
    return luhn_is_valid(s)


def normalise_finess(s: str) -> str:
    """Return ``s`` without spaces and upper-cased (the FINESS site shows "NN NNN NNN N")."""
    return re.sub(r"\s+", "", s).upper()


# --- NIR / NIA / INS detection ---------------------------------------------------------------

# Decree 82-103 layout: sex, year, month, département (2A/2B for Corsica), commune, order, key.
_NIR_STRUCTURE = re.compile(
    r"[1-478][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])(?:[0-9]{2}|2[AB])[0-9]{6}(?:[0-9]{2})?"
)
# A run of digits and A/B letters whose characters may be separated by up to two spaces, dots
# or hyphens ("1 85 05 78 006 084 91", "2 90 12 2A 004 123 67").
_SEPARATORS = " \t.-\u00a0\u202f"
_GROUP = re.compile(rf"[0-9ABab](?:[{re.escape(_SEPARATORS)}]{{0,2}}[0-9ABab])*")
# Where a written NIR may be cut: "1 85 05 78 006 084 91" and any coarser grouping of it.
_NIR_CUTS = frozenset({1, 3, 5, 7, 10, 13})
# INS OID arc of the assigning authorities (NIR ...4.8, NIA ...4.9).
_INS_OID = re.compile(r"(?<![0-9])1\.2\.250\.1\.213\.1\.4(?![0-9])")
# The former calculated INS (INS-C): 22 digits in one piece.
_INS_C = re.compile(r"(?<![0-9])[0-9]{22}(?![0-9])")
_NIR_LENGTHS = (13, 15)
# 13-digit French medicine codes (CIP13/UCD13) start with 340 and would look like NIR bodies.
_MEDICINE_CODE_PREFIX = "340"


def nir_key(body: str) -> int:
    """Return the 2-digit key of a 13-character NIR body: 97 - (N mod 97), 2A -> 19, 2B -> 18."""
    body = body.upper()
    if len(body) != 13:
        raise ValueError("a NIR body has 13 characters")
    department = {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7])
    digits = body[:5] + department + body[7:]
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("a NIR body has digits only, except 2A/2B")
    return 97 - int(digits) % 97


def is_valid_nir(s: str) -> bool:
    """Tell whether ``s`` is a 15-character NIR (or NIA) whose structure and key are correct."""
    candidate = s.upper()
    if len(candidate) != 15 or not _NIR_STRUCTURE.fullmatch(candidate):
        return False
    return nir_key(candidate[:13]) == int(candidate[13:])


def looks_like_nir_or_ins(text: str) -> bool:
    """Tell whether ``text`` contains a NIR/NIA/INS-like value anywhere (MIN-04).

    Refused: a NIR-structured value of 15 characters whatever its key (a bad key is a
    probable typo), a 13-character NIR body except medicine codes starting with 340, the INS
    OID arc 1.2.250.1.213.1.4, and 22-digit values (INS-C). Spaces, dots and hyphens may
    separate the parts of a NIR where its printed form does ("1 85 05 78 006 084 91", or
    coarser, such as "1850578006084 91"); other cuts are read as separate numbers, so that
    lists of dates or phone numbers are not refused. A value glued to further digits
    ("1850578006084912") is not matched either: it is then part of a longer number.
    """
    if _INS_OID.search(text) or _INS_C.search(text):
        return True
    return any(_is_suspect(candidate) for candidate in _candidates(text))


def _candidates(text: str) -> Iterator[str]:
    """Yield each separator-free stretch of 13 or 15 characters that could be a written NIR.

    A stretch starts and ends where a part does: at a separator, at an end of the run, or
    next to a letter (a letter is only valid as the Corsican 2A/2B, so it also bounds a value
    glued to it, as in "...352A"). Separators inside the stretch must fall on NIR cuts.
    """
    for group in _GROUP.finditer(text):
        compact: list[str] = []
        cuts: set[int] = set()  # Positions of separators.
        bounds = {0}  # Positions where a stretch may start or end.
        after_separator = False
        for char in group.group():
            if char in _SEPARATORS:
                after_separator = True
                continue
            if after_separator:
                cuts.add(len(compact))
            if after_separator or char.isalpha():
                bounds.add(len(compact))
            compact.append(char.upper())
            if char.isalpha():
                bounds.add(len(compact))
            after_separator = False
        bounds.add(len(compact))
        joined = "".join(compact)
        ordered_cuts = sorted(cuts)
        for start in bounds:
            for length in _NIR_LENGTHS:
                end = start + length
                if end not in bounds:
                    continue
                # Only the cuts inside the stretch: bisect keeps long inputs linear.
                inside = ordered_cuts[
                    bisect_right(ordered_cuts, start) : bisect_left(ordered_cuts, end)
                ]
                if all(cut - start in _NIR_CUTS for cut in inside):
                    yield joined[start:end]


def _is_suspect(candidate: str) -> bool:
    """Tell whether one separator-free candidate is NIR-like."""
    if not _NIR_STRUCTURE.fullmatch(candidate):
        return False
    return not (len(candidate) == 13 and candidate.startswith(_MEDICINE_CODE_PREFIX))


# --- Patient initials (MIN-01) ---------------------------------------------------------------

# Latin letters that have no Unicode decomposition to a base letter.
_LETTER_EXPANSIONS = str.maketrans(
    {"Œ": "OE", "Æ": "AE", "ß": "SS", "ẞ": "SS", "Ø": "O", "Ł": "L", "Đ": "D", "Ð": "D", "Þ": "TH"}
    | {"œ": "OE", "æ": "AE", "ø": "O", "ł": "L", "đ": "D", "ð": "D", "þ": "TH", "ı": "I"}
)
# Dropped silently: spaces, hyphens and apostrophes of compound names ("Le Goff", "N'Diaye").
_NAME_SEPARATORS = re.compile(r"[\s\-\u2010\u2011'\u2019\u02bc]+")
_LETTERS = re.compile(r"[A-Z]+")


def normalise_name_letters(value: str, max_letters: int) -> str:
    """Return the letters of one name field: upper case, no accents, no separators.

    Raises ValueError when the field is empty, holds anything but letters, spaces, hyphens
    and apostrophes, or has more than ``max_letters`` letters: the portal must never receive
    a full name, so longer input is refused rather than truncated (MIN-01).
    """
    decomposed = unicodedata.normalize("NFKD", value.translate(_LETTER_EXPANSIONS))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    letters = _NAME_SEPARATORS.sub("", stripped).upper()
    if not letters:
        raise ValueError("at least one letter is required")
    if not _LETTERS.fullmatch(letters):
        raise ValueError("only letters, spaces, hyphens and apostrophes are allowed")
    if len(letters) > max_letters:
        raise ValueError(f"at most {max_letters} letters are allowed")
    return letters


def normalise_initials(surname_part: str, first_name_part: str) -> str:
    """Return the patient code "SSS-FF": up to 3 surname and 2 first-name letters (MIN-01).

    The hyphen keeps the two parts apart when a name is shorter than its field ("LI-EM" and
    "LIE-M" differ). Raises ValueError as ``normalise_name_letters`` does.
    """
    surname = normalise_name_letters(surname_part, SURNAME_LETTERS)
    first_name = normalise_name_letters(first_name_part, FIRST_NAME_LETTERS)
    return f"{surname}-{first_name}"
