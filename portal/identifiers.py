"""Identifier formats: RPPS and FINESS validation, NIR/INS refusal, patient initials (MIN-01/04/08).

Sources: domain-requirements.md section 2.3. The NIR and INS detector refuses such values typed
in any string input (MIN-04); callers log the refusal without the value.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

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


# --- Typed values ------------------------------------------------------------------------------

# Look-alikes of the only letters a NIR holds (Corsica 2A/2B): Cyrillic and Greek capitals and
# small letters that NFKC leaves alone.
_AB_LOOKALIKES = str.maketrans({"\u0410": "A", "\u0430": "A", "\u0391": "A", "\u03b1": "A",
                                "\u0412": "B", "\u0432": "B", "\u0392": "B", "\u03b2": "B"})
_DROPPED_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cs", "Co", "Cn"})


def normalise_typed(text: str) -> str:
    """Return what a person typed as the portal reads it before any check.

    Unicode NFKC (full-width, superscript and circled forms become plain ones), format and
    control characters dropped (zero-width spaces, joiners, soft hyphens, direction marks,
    combining marks), every decimal digit of any script written as an ASCII digit. Separators
    are kept: parsing a number or a date needs them.
    """
    if text.isascii():
        if text.isprintable():
            return text
        return "".join(c for c in text if c.isprintable() or c.isspace())
    out = []
    for char in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(char)
        if category == "Nd":
            out.append(str(unicodedata.decimal(char)))
        elif category in _DROPPED_CATEGORIES or (category == "Cc" and not char.isspace()):
            continue
        else:
            out.append(char)
    return "".join(out)


# --- NIR / NIA / INS detection ---------------------------------------------------------------

# Decree 82-103 layout: sex, year, month, département (2A/2B for Corsica), commune, order, key.
_NIR_STRUCTURE = re.compile(
    r"[1-478][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])(?:[0-9]{2}|2[AB])[0-9]{6}(?:[0-9]{2})?"
)
# What may stand between the parts of a written number: any space, any dash (hyphen, en and em
# dash, minus sign...), any connector (underscore), dots, commas, slashes and apostrophes.
# NFKC has already turned their full-width forms into these.
_SEPARATOR_CLASS = (
    r"\s\-\u058a\u05be\u1400\u1806\u2010-\u2015\u2212\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u301c"
    r"\u3030\u30a0_\u203f\u2040\u2054.,/\\'\u2019\u00b7\u2027\u2044\u2215"
)
_SEPARATOR = re.compile(rf"[{_SEPARATOR_CLASS}]")
# A run of digits and A/B letters whose characters may be separated by up to three separators
# ("1 85 05 78 006 084 91", "2 90 12 2A 004 123 67", "1 - 85 - 05 ...").
_GROUP = re.compile(rf"[0-9AB](?:[{_SEPARATOR_CLASS}]{{0,3}}[0-9AB])*")
# Where a written NIR may be cut: "1 85 05 78 006 084 91" and any coarser grouping of it.
_NIR_CUTS = frozenset({1, 3, 5, 7, 10, 13})
# INS OID arc of the assigning authorities (NIR ...4.8, NIA ...4.9), read with any separators.
_INS_OID = re.compile(r"(?<![0-9])1\.2\.250\.1\.213\.1\.4(?![0-9])")
_SEPARATOR_RUN = re.compile(rf"[{_SEPARATOR_CLASS}]+")
# The former calculated INS (INS-C): 22 digits in one piece.
_INS_C = re.compile(r"(?<![0-9])[0-9]{22}(?![0-9])")
_INS_C_LENGTH = 22
# The first 20 digits of an INS-C are 64 bits of a SHA-256 digest written in decimal.
_INS_C_BODY_LIMIT = 2**64
_NIR_LENGTHS = (13, 15)
_NIR_LENGTH = 15
_NIR_BODY_LENGTH = 13
# 13-digit French medicine codes (CIP13/UCD13) start with 340 and would look like NIR bodies.
_MEDICINE_CODE_PREFIX = "340"
# A number in scientific notation ("1.85057800608491E+14", "1,8505780060849e14", "1.85 x 10^14").
_SCIENTIFIC = re.compile(
    r"(?<![0-9])([0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)\s*"
    r"(?:[eE]|[x×*·]\s*10\s*(?:\^|\*\*))\s*([+-]?[0-9]{1,6})(?![0-9])"
)
# Fewer digits than the INS OID arc holds (11) cannot make any identifier, unless an exponent
# adds zeros.
_FEWEST_DIGITS = 11
_ASCII_DIGITS = frozenset("0123456789")


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

    The text is first read as `normalise_typed` does (full-width, Arabic-Indic and other digits,
    zero-width characters), and Cyrillic or Greek look-alikes of A and B count as A and B.

    Refused: a NIR-structured value of 15 characters whatever its key (a bad key is a
    probable typo), a 13-character NIR body except medicine codes starting with 340, the INS
    OID arc 1.2.250.1.213.1.4, and 22-digit values (INS-C) in one piece, or cut by separators
    when their key is right ("1541 1873 8747 7485 5624 88"). Any spaces, dashes, dots, commas,
    slashes, underscores or apostrophes may separate the parts of a NIR where its printed form
    does ("1 85 05 78 006 084 91", or coarser, such as "1850578006084 91"). A number grouped
    otherwise is refused when it is a NIR body of 13 characters in all ("1 8505 7800 6084"),
    or when some of its groups make a 15-character NIR whose key is right ("18 5057 8006
    08491"); other groupings are read as separate numbers, so that lists of dates or phone
    numbers are not refused. A number in scientific notation is refused when its value is
    such a number ("1.8505780060849E+14"). A value glued to further digits
    ("1850578006084912") is not matched: it is then part of a longer number.
    """
    if not text:
        return False
    normal = normalise_typed(text)
    has_exponent = "e" in normal or "E" in normal or "10" in normal
    if sum(c in _ASCII_DIGITS for c in normal) < _FEWEST_DIGITS and not has_exponent:
        return False
    if has_exponent and _scientific_suspect(normal):
        return True
    normal = normal.translate(_AB_LOOKALIKES).upper()
    if _INS_C.search(normal) or _INS_OID.search(_SEPARATOR_RUN.sub(".", normal)):
        return True
    if _split_ins_c(normal):
        return True
    return any(_is_suspect(candidate) for candidate in _candidates(normal))


def is_valid_ins_c(s: str) -> bool:
    """Tell whether ``s`` is an INS-C: 22 digits, a 64-bit value (20 digits) and its key.

    The key is 97 - (value mod 97), as for a NIR (ASIP Santé, INS-C calculation, 2009).
    """
    if len(s) != _INS_C_LENGTH or not s.isascii() or not s.isdigit():
        return False
    body = int(s[:-2])
    return body < _INS_C_BODY_LIMIT and 97 - body % 97 == int(s[-2:])


def _split_ins_c(text: str) -> bool:
    """Tell whether digits cut by separators hold an INS-C with its right key.

    Any grouping counts ("1541 1873 8747 7485 5624 88", "15.41.18...") as long as the 22
    digits start and end at a cut or an end of the run; the key keeps other runs of numbers
    that happen to add up to 22 digits ("876422 3475 781952 517942") from being refused.
    """
    for group in _GROUP.finditer(text):
        raw = group.group()
        if len(raw) <= _INS_C_LENGTH:
            continue  # no separator inside: the glued form is _INS_C's
        pieces = [piece for piece in _SEPARATOR_RUN.split(raw) if piece]
        compact = "".join(pieces)
        bounds, position = {0}, 0
        for piece in pieces:
            position += len(piece)
            bounds.add(position)
        if any(start + _INS_C_LENGTH in bounds
               and is_valid_ins_c(compact[start:start + _INS_C_LENGTH]) for start in bounds):
            return True
    return False


def _scientific_suspect(text: str) -> bool:
    """Tell whether a number in scientific notation in ``text`` expands to an identifier."""
    for match in _SCIENTIFIC.finditer(text):
        mantissa, exponent = match.group(1).replace(",", "."), int(match.group(2))
        try:
            value = abs(Decimal(mantissa).scaleb(exponent))
        except InvalidOperation:
            continue
        if not value.is_finite() or not 12 <= value.adjusted() <= _INS_C_LENGTH - 1:
            continue  # checked before expanding: "1e999999" is never written out
        whole = str(int(value))
        if len(whole) == _INS_C_LENGTH or (len(whole) in _NIR_LENGTHS and _is_suspect(whole)):
            return True
    return False


def _candidates(text: str) -> Iterator[str]:
    """Yield each separator-free stretch of 13 or 15 characters that could be a written NIR.

    A stretch starts and ends where a part does: at a separator, at an end of the run, or
    next to a letter (a letter is only valid as the Corsican 2A/2B, so it also bounds a value
    glued to it, as in "...352A"). Separators inside the stretch must fall on NIR cuts, or the
    stretch is the whole run, or it is 15 characters with a right key.
    """
    for group in _GROUP.finditer(text):
        raw = group.group()
        if len(raw) < 13:
            continue
        compact: list[str] = []
        cuts: set[int] = set()  # Positions of separators.
        bounds = {0}  # Positions where a stretch may start or end.
        after_separator = False
        for char in raw:
            if _SEPARATOR.match(char):
                after_separator = True
                continue
            if after_separator:
                cuts.add(len(compact))
            if after_separator or char.isalpha():
                bounds.add(len(compact))
            compact.append(char)
            if char.isalpha():
                bounds.add(len(compact))
            after_separator = False
        bounds.add(len(compact))
        joined = "".join(compact)
        if len(joined) == _NIR_BODY_LENGTH:
            yield joined  # a whole run of 13, however it is grouped: a body has no key to check
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
                stretch = joined[start:end]
                if all(cut - start in _NIR_CUTS for cut in inside):
                    yield stretch
                elif length == _NIR_LENGTH and is_valid_nir(stretch):
                    yield stretch


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
