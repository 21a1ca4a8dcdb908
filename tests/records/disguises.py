"""Hypothesis strategies: synthetic NIR, NIA and INS values, written in every disguise a person
(or a copy and paste) can give them (domain-requirements 2.3; issue 26).

A disguise keeps the identifier readable by a person: other separators, other groupings, digits
of another script, invisible characters, scientific notation. Every value drawn here must be
refused by the portal.
"""

from __future__ import annotations

import string
from decimal import Decimal

from hypothesis import strategies as st

from portal.identifiers import is_valid_ins_c, nir_key

#: the parts of a printed NIR: sex, year, month, département, commune, order, key
UNITS = (1, 2, 2, 2, 3, 3, 2)
SEPARATORS = [" ", ".", "-", "/", "_", ",", "\u2013", "\u2014", "\u2212", "\u2010", "\u00a0",
              "\u202f", "\u2009", "\t", "'", "\u2019", "\uff0f", "\uff0e", "\uff0d", " - ",
              " / ", ", "]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f"]
#: the zero of decimal digit sets (NFKC does not map the non-full-width ones)
DIGIT_ZEROS = [0x30, 0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1D7CE, 0x1D7EC]
SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
LETTER_FORMS = {"A": ["A", "a", "\uff21", "\u0410", "\u0391"],
                "B": ["B", "b", "\uff22", "\u0412", "\u0392"]}
#: text around a value: no digit, and no A/B that would glue to it
AROUND = string.ascii_letters.translate(str.maketrans("", "", "ABab")) + " :("


@st.composite
def nir_bodies(draw: st.DrawFn) -> str:
    """A 13-character NIR body: sex, year, month, département (2A/2B too), commune, order."""
    sex = draw(st.sampled_from("1278"))
    year = f"{draw(st.integers(0, 99)):02d}"
    month = f"{draw(st.sampled_from([*range(1, 13), *range(20, 31), *range(50, 100)])):02d}"
    department = draw(st.sampled_from(["01", "13", "59", "75", "95", "97", "99", "2A", "2B"]))
    rest = "".join(draw(st.lists(st.sampled_from(string.digits), min_size=6, max_size=6)))
    return sex + year + month + department + rest


@st.composite
def identifiers(draw: st.DrawFn) -> str:
    """A NIR with its right key, with a wrong key (a typo), a bare body, or 22 digits (a real
    INS-C, whose key is right, or any 22 digits)."""
    body = draw(nir_bodies())
    kind = draw(st.sampled_from(["nir", "nir", "nir", "typo", "body", "ins_c"]))
    if kind == "nir":
        return f"{body}{nir_key(body):02d}"
    if kind == "typo":
        key = draw(st.integers(0, 99).filter(lambda k: k != nir_key(body)))
        return f"{body}{key:02d}"
    if kind == "body":
        return body
    if draw(st.booleans()):  # a real INS-C: 64 bits of a digest in decimal, and its key
        value = draw(st.integers(0, 2**64 - 1))
        return f"{value:020d}{97 - value % 97:02d}"
    return "".join(draw(st.lists(st.sampled_from(string.digits), min_size=22, max_size=22)))


def _is_ins_c(value: str) -> bool:
    # 64 bits at most before the key, as the portal reads an INS-C: 22 random digits whose key
    # happens to be right but whose value is larger are no INS-C, and cut they are numbers.
    return is_valid_ins_c(value)


def _digit(draw: st.DrawFn, char: str, zeros: list[int]) -> str:
    if not char.isdigit():
        return draw(st.sampled_from(LETTER_FORMS[char]))
    form = draw(st.sampled_from(zeros))
    if form == -1:
        return SUPERSCRIPTS[int(char)]
    return chr(form + int(char))


@st.composite
def disguised(draw: st.DrawFn, value: str | None = None) -> str:
    """An identifier as a person may type or paste it, sometimes inside a few words."""
    value = value or draw(identifiers())
    way = draw(st.sampled_from(["units", "regrouped", "scripts", "invisible", "scientific",
                                "mixed"]))
    if way == "scientific" and (not value.isdigit() or value.startswith("0")):
        way = "units"  # 2A/2B is no number; a leading zero is lost in one
    if len(value) == 22 and way != "scientific" and not _is_ins_c(value):
        # 22 digits without an INS-C's key are read as separate numbers once cut
        way = draw(st.sampled_from(["scripts", "invisible"]))
    elif way == "regrouped" and len(value) == 15 and nir_key(value[:13]) != int(value[13:]):
        way = "units"  # regrouped with a wrong key: no longer recognisable as a NIR
    if way == "scientific":
        text = _scientific(draw, value)
    else:
        zeros = [0x30]
        if way in ("scripts", "mixed"):
            zeros = draw(st.lists(st.sampled_from([*DIGIT_ZEROS, -1]), min_size=1, max_size=3))
        chars = [_digit(draw, c, zeros) for c in value]
        if way == "regrouped":
            cuts = draw(st.sets(st.integers(1, len(value) - 1), min_size=1, max_size=6))
        elif way in ("units", "mixed"):
            cuts, position = set(), 0
            # An INS-C has no printed units: it is written in groups of two, three or four.
            widths = UNITS if len(value) != 22 else [draw(st.integers(2, 4))] * 11
            for width in widths:
                position += width
                if position < len(value) and draw(st.booleans()):
                    cuts.add(position)
        else:
            cuts = set()
        separator = draw(st.sampled_from(SEPARATORS))
        pieces = []
        for index, char in enumerate(chars):
            if index in cuts:
                pieces.append(separator)
            if index and way in ("invisible", "mixed") and draw(st.booleans()):
                pieces.append(draw(st.sampled_from(INVISIBLE)))
            pieces.append(char)
        text = "".join(pieces)
    before = draw(st.text(alphabet=AROUND, max_size=6))
    after = draw(st.text(alphabet=AROUND, max_size=6))
    return (f"{before} " if before else "") + text + (f" {after}" if after else "")


def _scientific(draw: st.DrawFn, value: str) -> str:
    """The number in scientific notation, as a spreadsheet or a float field writes it."""
    number = Decimal(value)
    shift = draw(st.integers(0, 2))  # 1.85…E+14, 18.5…E+13, 185.…E+12
    exponent = len(value) - 1 - shift
    mantissa = format(number.scaleb(-exponent).normalize(), "f")
    mantissa = mantissa.replace(".", draw(st.sampled_from([".", ","])))
    mark = draw(st.sampled_from(["E+", "e+", "E", "e"]))
    return f"{mantissa}{mark}{exponent}"


@st.composite
def ins_oids(draw: st.DrawFn) -> str:
    """The INS OID of the NIR or NIA authority, with other separators or digits."""
    arcs = ["1", "2", "250", "1", "213", "1", "4", draw(st.sampled_from("89"))]
    separator = draw(st.sampled_from([".", ".", " ", "/", "-", "\uff0e"]))
    zeros = draw(st.lists(st.sampled_from(DIGIT_ZEROS), min_size=1, max_size=2))
    text = separator.join("".join(_digit(draw, c, zeros) for c in arc) for arc in arcs)
    return draw(st.sampled_from(["", "urn:oid:", "OID "])) + text


def any_disguise() -> st.SearchStrategy[str]:
    """Every kind of value to refuse: a disguised NIR, NIA, INS-C or INS OID."""
    return st.one_of(disguised(), ins_oids())
