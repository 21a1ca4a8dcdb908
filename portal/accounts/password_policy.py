"""Password policy of CNIL 2022-100, case 1 (80 bits), with deny-list and context checks.

A password is accepted when at least one CNIL example policy holds (SEC-AUT-3a):

(i)   at least 12 characters with upper-case, lower-case, digit and special character;
(ii)  at least 14 characters with upper-case, lower-case and digit;
(iii) a passphrase of at least 7 different words;
(iv)  CNIL entropy ``L * log2(N) >= 80`` bits, N being the sum of the pool sizes of the classes
      present: lower-case 26, upper-case 26, digits 10, specials 37.

and none of the refusals applies: longer than 128 characters (SEC-AUT-3b, never truncated),
control characters, common password or a variant of one (SEC-AUT-3d), or containing a personal
or product word (SEC-AUT-3e).

Choices made here (documented deviations or readings of the text):

* Special pool N = 37: CNIL 2022-100 asks for specials "chosen from a list of at least 37", and
  the CNIL calculator decoded by EntroCalc uses 37. Every character that is not a letter or a
  decimal digit (space, punctuation, symbols, emoji, letters without case) counts as special.
  Accented letters count as lower or upper case (Unicode case), so ``é`` adds no pool size.
* Rule (iv) is not applied to a phrase made only of alphabetic words separated by spaces or
  by - . , ; : ' _ characters: the character formula assumes random characters, and
  a phrase of dictionary words is measured by its word count (rule iii). Without this, any
  6-word phrase would pass on characters alone, against the CNIL 7-word example.
* A word of rule (iii) is a token of at least 2 characters between separators; words are
  counted once each (case-insensitive), so repeating a word does not lengthen a phrase.
* Input is NFC-normalised before every check, and must be normalised the same way before
  hashing and verifying (``normalise``): no case-folding, no stripping (SEC-AUT-3c).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

MAX_LENGTH = 128
MIN_LENGTH = 12  # Shortest length any rule can accept: 11 characters give at most 72.9 bits.
MIN_LENGTH_FOUR_CLASSES = 12
MIN_LENGTH_THREE_CLASSES = 14
MIN_PASSPHRASE_WORDS = 7
MIN_PASSPHRASE_WORD_LENGTH = 2
MIN_ENTROPY_BITS = 80.0
MIN_CONTEXT_TOKEN_LENGTH = 4
MIN_COMMON_CORE_LENGTH = 4

POOL_LOWER = 26
POOL_UPPER = 26
POOL_DIGITS = 10
POOL_SPECIALS = 37

#: Names of the portal itself; product and laboratory names come from configuration (``names``).
PORTAL_NAMES: tuple[str, ...] = ("AAC Portal", "Portail AAC")

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"


class Reason(StrEnum):
    """Stable refusal reason codes, mapped to translated messages by the caller."""

    INVALID_CHARACTER = "invalid_character"
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    TOO_WEAK = "too_weak"
    COMMON = "common"
    CONTAINS_PERSONAL = "contains_personal"


#: Default (English) message for each reason code, usable as a gettext msgid.
REASON_MESSAGES: dict[str, str] = {
    Reason.INVALID_CHARACTER: "The password contains a control or invisible character.",
    Reason.TOO_LONG: f"The password is longer than {MAX_LENGTH} characters.",
    Reason.TOO_SHORT: f"The password is shorter than {MIN_LENGTH} characters.",
    Reason.TOO_WEAK: "The password does not meet any of the accepted rules.",
    Reason.COMMON: "The password is a common password or a variant of one.",
    Reason.CONTAINS_PERSONAL: (
        "The password contains your login, e-mail, name, or the name of the product, "
        "laboratory or portal."
    ),
}


@dataclass(frozen=True)
class Rule:
    """One line of the policy as shown on the create/change password forms (SEC-AUT-3g)."""

    key: str
    text: str


RULES: tuple[Rule, ...] = (
    Rule(
        "four_classes",
        f"At least {MIN_LENGTH_FOUR_CLASSES} characters with an upper-case letter, a lower-case "
        "letter, a digit and a special character;",
    ),
    Rule(
        "three_classes",
        f"or at least {MIN_LENGTH_THREE_CLASSES} characters with an upper-case letter, "
        "a lower-case letter and a digit;",
    ),
    Rule(
        "passphrase",
        f"or a passphrase of at least {MIN_PASSPHRASE_WORDS} different words separated by spaces;",
    ),
    Rule(
        "entropy",
        f"or any password worth at least {MIN_ENTROPY_BITS:.0f} bits by the CNIL formula, "
        "for example 18 random lower-case letters or 25 random digits.",
    ),
    Rule(
        "length",
        f"At most {MAX_LENGTH} characters. Spaces, accents and any printable character are "
        "allowed; upper and lower case are distinct.",
    ),
    Rule("common", "Common passwords and their variants are refused."),
    Rule(
        "personal",
        "The password must not contain your login, e-mail, first or last name, or the name "
        "of the product, laboratory or portal.",
    ),
)

# Line and paragraph separators and these categories cannot be typed or shown reliably:
# control (Cc), unpaired surrogate (Cs), unassigned (Cn).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Cn", "Zl", "Zp"})
_WORD_SEPARATORS = re.compile(r"[\s\-.,;:'\u2019_]+")
_CONTEXT_SPLIT = re.compile(r"[\W_]+")
# Undo the usual substitutions; "1" is tried both as "i" and as "l".
_LEET = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i"}
_LEET_I = str.maketrans({**_LEET, "1": "i", "|": "l", "€": "e"})
_LEET_L = str.maketrans({**_LEET, "1": "l", "|": "l", "€": "e"})


def normalise(password: str) -> str:
    """Return the NFC form used at set and verify time (never case-folded nor stripped)."""
    return unicodedata.normalize("NFC", password)


@cache
def load_common_passwords() -> frozenset[str]:
    """Load the shipped deny-list once (NFC, case-folded)."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as f:
        return frozenset(
            unicodedata.normalize("NFC", line.strip()).casefold()
            for line in f
            if line.strip() and not line.startswith("#")
        )


def check_password(
    password: str,
    *,
    login: str = "",
    email: str = "",
    names: Iterable[str] = (),
) -> list[str]:
    """Return the refusal reason codes for ``password``; an empty list means accepted.

    ``names`` holds the user's first and last names and the product and laboratory names;
    the portal names (``PORTAL_NAMES``) are always added. A ``login`` that is an e-mail
    address is treated like ``email``.
    """
    pw = normalise(password)
    reasons: list[str] = []
    if any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in pw):
        reasons.append(Reason.INVALID_CHARACTER)
    if len(pw) > MAX_LENGTH:
        reasons.append(Reason.TOO_LONG)
    elif len(pw) < MIN_LENGTH:
        reasons.append(Reason.TOO_SHORT)
    elif not meets_strength_rule(pw):
        reasons.append(Reason.TOO_WEAK)
    if is_common(pw):
        reasons.append(Reason.COMMON)
    if contains_personal(pw, login=login, email=email, names=names):
        reasons.append(Reason.CONTAINS_PERSONAL)
    return reasons


def meets_strength_rule(password: str) -> bool:
    """Tell whether one of the CNIL case-1 rules (i)-(iv) holds, ignoring length cap and lists."""
    pw = normalise(password)
    lower, upper, digit, special = _classes(pw)
    if len(pw) >= MIN_LENGTH_FOUR_CLASSES and lower and upper and digit and special:
        return True
    if len(pw) >= MIN_LENGTH_THREE_CLASSES and lower and upper and digit:
        return True
    if passphrase_word_count(pw) >= MIN_PASSPHRASE_WORDS:
        return True
    return not _is_word_phrase(pw) and entropy_bits(pw) >= MIN_ENTROPY_BITS


def entropy_bits(password: str) -> float:
    """Return the CNIL entropy ``L * log2(N)`` of ``password`` (N from the classes present)."""
    pw = normalise(password)
    if not pw:
        return 0.0
    lower, upper, digit, special = _classes(pw)
    pool = POOL_LOWER * lower + POOL_UPPER * upper + POOL_DIGITS * digit + POOL_SPECIALS * special
    return len(pw) * math.log2(pool)


def passphrase_word_count(password: str) -> int:
    """Count the distinct words (case-insensitive, >= 2 characters) of a passphrase."""
    words = {w.casefold() for w in _WORD_SEPARATORS.split(normalise(password))}
    return sum(1 for w in words if len(w) >= MIN_PASSPHRASE_WORD_LENGTH)


def is_common(password: str) -> bool:
    """Tell whether the password, or its core without decorations, is in the deny-list."""
    common = load_common_passwords()
    return any(candidate in common for candidate in _common_candidates(password))


def contains_personal(
    password: str,
    *,
    login: str = "",
    email: str = "",
    names: Iterable[str] = (),
) -> bool:
    """Tell whether the password contains a personal or product word (>= 4 characters)."""
    folded = _fold(normalise(password))
    variants = {folded, folded.translate(_LEET_I), folded.translate(_LEET_L)}
    tokens = context_tokens(login=login, email=email, names=names)
    return any(token in variant for token in tokens for variant in variants)


def context_tokens(
    *,
    login: str = "",
    email: str = "",
    names: Iterable[str] = (),
) -> frozenset[str]:
    """Return the folded words a password must not contain (each >= 4 characters)."""
    # Only the local part of an e-mail address is personal: refusing a domain word such as
    # "orange" (orange.fr) would refuse ordinary passwords.
    sources = [_local_part(login), _local_part(email), *names, *PORTAL_NAMES]
    tokens: set[str] = set()
    for source in sources:
        parts = [p for p in _CONTEXT_SPLIT.split(_fold(source)) if p]
        tokens.update(p for p in parts if len(p) >= MIN_CONTEXT_TOKEN_LENGTH)
        # "Jean-Pierre" must also refuse "jeanpierre"; "j.dupont" refuses "jdupont".
        joined = "".join(parts)
        if len(joined) >= MIN_CONTEXT_TOKEN_LENGTH:
            tokens.add(joined)
    return frozenset(tokens)


def _local_part(address: str) -> str:
    """Return the part of an e-mail address before the last "@" (the whole text otherwise)."""
    return address.rsplit("@", 1)[0]


def _classes(pw: str) -> tuple[bool, bool, bool, bool]:
    """Return which of lower, upper, digit, special classes occur in ``pw``."""
    lower = upper = digit = special = False
    for c in pw:
        if c.islower():
            lower = True
        elif c.isupper():
            upper = True
        elif c.isdecimal():
            digit = True
        else:
            special = True
    return lower, upper, digit, special


def _is_word_phrase(pw: str) -> bool:
    """Tell whether ``pw`` is two or more purely alphabetic words joined by separators."""
    words = [w for w in _WORD_SEPARATORS.split(pw) if w]
    return len(words) >= 2 and all(w.isalpha() for w in words)


def _fold(text: str) -> str:
    """Case-fold and strip accents, for accent- and case-insensitive comparisons."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _strip_decorations(text: str) -> str:
    """Remove leading and trailing characters that are not letters (digits, symbols, spaces)."""
    start, end = 0, len(text)
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return text[start:end]


def _common_candidates(password: str) -> Iterator[str]:
    """Yield the forms of the password looked up in the deny-list."""
    pw = normalise(password).casefold()
    yield pw
    derived = {_strip_decorations(pw)}
    for table in (_LEET_I, _LEET_L):
        derived.add(_strip_decorations(pw).translate(table))
        derived.add(_strip_decorations(pw.translate(table)))
    # Short cores ("mar", "x") are in the list but would refuse random passwords.
    yield from (d for d in derived if len(d) >= MIN_COMMON_CORE_LENGTH)
