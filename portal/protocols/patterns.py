"""Facts about a coded field's regular expression, computed from its parse tree.

The linter needs to know, without trying every string, whether a pattern is bounded, whether
it accepts spaces (a sign of free text) and whether it accepts 13 to 15 digits (the shape of a
NIR or INS matricule).
Python's own regex parser gives the tree; this module walks it.
"""

from __future__ import annotations

import re
import re._constants as sre  # the parser's node names; stable across 3.11+
import re._parser as sre_parse
from dataclasses import dataclass
from functools import cache
from typing import Any

#: Counts above this are lumped together; NIR detection only needs up to 15.
_CAP = 24
#: Characters people put between the digits of a NIR (stripped before detection, MIN-04).
_SEPARATORS = " .-"
_DIGITS = "0123456789"

_CATEGORY_TESTS = {
    "DIGIT": str.isdigit,
    "NOT_DIGIT": lambda ch: not ch.isdigit(),
    "SPACE": str.isspace,
    "NOT_SPACE": lambda ch: not ch.isspace(),
    "WORD": lambda ch: ch.isalnum() or ch == "_",
    "NOT_WORD": lambda ch: not (ch.isalnum() or ch == "_"),
    "LINEBREAK": lambda ch: ch == "\n",
    "NOT_LINEBREAK": lambda ch: ch != "\n",
}


@dataclass(frozen=True)
class PatternFacts:
    """What a pattern can accept."""

    #: Longest value it can accept; None when unbounded.
    max_length: int | None
    #: True when some value it accepts contains whitespace.
    admits_whitespace: bool
    #: Numbers of digits in the values it accepts that hold only digits and separators.
    digit_counts: frozenset[int]


def _class_accepts(items: list[tuple[Any, Any]], ch: str) -> bool:
    negate = bool(items) and items[0][0] is sre.NEGATE
    accepted = False
    for op, av in items[1:] if negate else items:
        if op is sre.LITERAL:
            accepted = chr(av) == ch
        elif op is sre.RANGE:
            accepted = av[0] <= ord(ch) <= av[1]
        elif op is sre.CATEGORY:
            name = str(av).removeprefix("CATEGORY_").removeprefix("UNI_").removeprefix("LOC_")
            accepted = _CATEGORY_TESTS.get(name, lambda _c: True)(ch)
        else:  # an unusual class item: assume it may accept the character
            accepted = True
        if accepted:
            break
    return accepted != negate


def _single_accepts(op: Any, av: Any, ch: str) -> bool | None:
    """Whether a one-character node accepts `ch`; None if the node is not one character."""
    if op is sre.LITERAL:
        return chr(av) == ch
    if op is sre.NOT_LITERAL:
        return chr(av) != ch
    if op is sre.ANY:
        return ch != "\n"
    if op is sre.IN:
        return _class_accepts(av, ch)
    return None


def _children(op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
    """Sub-sequences of a compound node."""
    if op is sre.SUBPATTERN:
        return [av[3]]
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        return [av[2]]
    if op is sre.BRANCH:
        return list(av[1])
    if op is sre.ATOMIC_GROUP:
        return [av]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [av[1]]
    if op is sre.GROUPREF_EXISTS:
        return [seq for seq in av[1:] if seq is not None]
    return []


def _max_length(seq: Any) -> int | None:
    total = 0
    for op, av in seq:
        if _single_accepts(op, av, "a") is not None:
            part: int | None = 1
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            inner = _max_length(av[2])
            if inner == 0:
                part = 0
            elif inner is None or av[1] is sre.MAXREPEAT:
                part = None
            else:
                part = inner * av[1]
        elif op is sre.BRANCH:
            lengths = [_max_length(alt) for alt in av[1]]
            part = None if None in lengths else max(lengths, default=0)  # type: ignore[type-var]
        elif op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
            part = _max_length(_children(op, av)[0])
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            part = 0
        else:  # back-references and the like: cannot bound
            part = None
        if part is None:
            return None
        total += part
    return total


def _admits(seq: Any, ch: str) -> bool:
    for op, av in seq:
        single = _single_accepts(op, av, ch)
        if single or any(_admits(child, ch) for child in _children(op, av)):
            return True
    return False


def _sum_sets(a: frozenset[int], b: frozenset[int]) -> frozenset[int]:
    return frozenset(min(x + y, _CAP) for x in a for y in b)


def _digit_counts(seq: Any) -> frozenset[int]:
    """Digit counts of the matches made only of digits and separators (empty: none exist)."""
    result = frozenset({0})
    for op, av in seq:
        single = [_single_accepts(op, av, ch) for ch in _DIGITS + _SEPARATORS]
        if single[0] is not None:
            part = frozenset(
                ({1} if any(single[:10]) else set()) | ({0} if any(single[10:]) else set())
            )
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = av
            inner = _digit_counts(sub)
            high = _CAP if high is sre.MAXREPEAT else min(high, _CAP)
            reach: frozenset[int] = frozenset({0})
            part_set: set[int] = set()
            for copies in range(high + 1):
                if copies >= low:
                    part_set |= reach
                reach = _sum_sets(reach, inner)
                if not reach:
                    break
            part = frozenset(part_set)
        elif op is sre.BRANCH:
            part = frozenset().union(*(_digit_counts(alt) for alt in av[1]))
        elif op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
            part = _digit_counts(_children(op, av)[0])
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            part = frozenset({0})
        else:  # unknown construct: assume anything
            part = frozenset(range(_CAP + 1))
        result = _sum_sets(result, part)
        if not result:
            return result
    return result


@cache
def pattern_facts(pattern: str) -> PatternFacts:
    """Analyse `pattern` (full-match semantics); raise re.error if it is invalid."""
    tree = list(sre_parse.parse(pattern))
    return PatternFacts(
        max_length=_max_length(tree),
        admits_whitespace=_admits(tree, " ") or _admits(tree, "\t"),
        digit_counts=_digit_counts(tree),
    )


def admits(pattern: str, value: str, max_length: int | None) -> bool:
    """Whether the field would accept `value` (pattern full match within max_length)."""
    if max_length is not None and len(value) > max_length:
        return False
    return re.fullmatch(pattern, value) is not None
