"""RPPS, FINESS, NIR/INS detection and patient initials (domain-requirements 2.3, MIN-01/04/08)."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from portal.identifiers import (
    is_valid_finess,
    is_valid_ins_c,
    is_valid_nir,
    is_valid_rpps,
    looks_like_nir_or_ins,
    luhn_is_valid,
    nir_key,
    normalise_finess,
    normalise_initials,
    normalise_name_letters,
    normalise_rpps,
    normalise_typed,
)
from tests.records.disguises import any_disguise

# --- RPPS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rpps", ["10000000009", "10012345673", "10999999997"])
def test_synthetic_rpps_vectors_are_valid(rpps: str) -> None:
    assert is_valid_rpps(rpps)


@pytest.mark.parametrize(
    "rpps",
    [
        "10012345674",
        "1001234567",
        "100123456733",
        "1001234567a",
        "",
        " 10012345673",
        "１００１２３４５６７３",
    ],  # Full-width digits are not ASCII digits.
)
def test_invalid_rpps(rpps: str) -> None:
    assert not is_valid_rpps(rpps)


def test_rpps_from_national_identifier_or_spaced_input() -> None:
    assert normalise_rpps("810012345673") == "10012345673"
    assert normalise_rpps("100 123 456 73") == "10012345673"
    assert normalise_rpps("10012345673") == "10012345673"
    assert normalise_rpps("910012345673") is None
    assert normalise_rpps("810012345674") is None


@given(st.text(alphabet=string.digits, min_size=10, max_size=10))
def test_exactly_one_check_digit_completes_an_rpps(prefix: str) -> None:
    valid = [d for d in string.digits if is_valid_rpps(prefix + d)]
    assert len(valid) == 1


def test_luhn_reference_number() -> None:
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")
    assert not luhn_is_valid("")


# --- FINESS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "finess",
    ["750712184", "330781196", "690781810"],  # Public numbers: AP-HP, CHU Bordeaux, HCL.
)
def test_real_finess_numbers_pass_the_luhn_key(finess: str) -> None:
    assert is_valid_finess(finess)


@pytest.mark.parametrize(
    "finess", ["750712185", "75071218", "7507121840", "75071218A", "2C0000000", "2a0000000", ""]
)
def test_invalid_finess(finess: str) -> None:
    assert not is_valid_finess(finess)


def test_corsican_finess_format_is_accepted_without_key_check() -> None:
    assert is_valid_finess("2A0000123")
    assert is_valid_finess("2B9999999")


def test_finess_normalisation() -> None:
    assert normalise_finess("75 071 218 4") == "750712184"
    assert normalise_finess("2a 000 012 3") == "2A0000123"


# --- NIR / INS --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nir", "key"),
    [("185057800608491", 91), ("290122A00412367", 67), ("290122B00412394", 94)],
)
def test_synthetic_nir_vectors_have_correct_keys(nir: str, key: int) -> None:
    assert nir_key(nir[:13]) == key
    assert is_valid_nir(nir)
    assert looks_like_nir_or_ins(nir)


def test_nir_with_bad_key_is_invalid_but_still_refused() -> None:
    assert not is_valid_nir("185057800608492")
    assert looks_like_nir_or_ins("185057800608492")


def test_nir_body_without_key_is_refused() -> None:
    assert looks_like_nir_or_ins("1850578006084")


def test_medicine_codes_starting_with_340_are_not_nir_bodies() -> None:
    assert not looks_like_nir_or_ins("3400893826706")
    assert not looks_like_nir_or_ins("CIP 3400893826706")


@pytest.mark.parametrize(
    "text",
    [
        "1 85 05 78 006 084 91",
        "1.85.05.78.006.084.91",
        "1-85-05-78-006-084-91",
        "1 85 05 78 006 084",  # Body with separators.
        "2 90 12 2A 004 123 67",
        "290122a00412367",
        "2 90 12 2b 004 123 94",
        "1\u00a085\u00a005\u00a078\u00a0006\u00a0084\u00a091",
        "Patient NIR : 185057800608491, vu le 12/03",
        "NIR185057800608491",
        "185057800608491kg",
        "rapport_185057800608491.pdf",
        "1 85 05 78 006 084 91 2024",  # Followed by another number.
        "urn:oid:1.2.250.1.213.1.4.8",
        "1.2.250.1.213.1.4.9",
        "1234567890123456789012",  # INS-C.
        "INS-C 1234567890123456789012.",
        "1850578006084 91",  # Body and key apart.
        "185 05 78 006 084 91",
        # Issue 26: other separators, digits and characters, regrouped, scientific notation.
        "1/85/05/78/006/084/91",
        "1_85_05_78_006_084_91",
        "1,85,05,78,006,084,91",
        "1\u201385\u201305\u201378\u2013006\u2013084\u201391",
        "1 - 85 - 05 - 78 - 006 - 084 - 91",
        "\uff11\uff18\uff15\uff10\uff15\uff17\uff18\uff10\uff10\uff16\uff10\uff18\uff14\uff19\uff11",
        "\u0661\u0668\u0665\u0660\u0665\u0667\u0668\u0660\u0660\u0666\u0660\u0668\u0664\u0669\u0661",
        "1\u200b85\u200b05\u200b78\u200b006\u200b084\u200b91",
        "18\u20605057\ufeff8006\u00ad08491",
        "18 5057 8006 08491",
        "1850 5780 0608 491",
        "1 8505 7800 6084",  # A regrouped body.
        "18 5057 8006 08491 2024",
        "18.5057800608491E+13",
        "1.85057800608491E+14",
        "1,85057800608491e14",
        "1.8505780060849E+14",  # Expands to 185057800608490: a NIR with a wrong key.
        "1.850578006E12",  # Expands to a 13-character body.
        "2 90 12 2\u0410 004 123 67",  # Cyrillic A.
        "2 90 12 2\uff22 004 123 94",  # Full-width B.
        "1 2 250 1 213 1 4 8",
        "\uff11.\uff12.250.1.213.1.4.9",
        "12345678901\u200b23456789012",
        # Issue 26: an INS-C (right key) cut by separators, in any grouping.
        "1541 1873 8747 7485 5624 88",
        "15.41.18.73.87.47.74.85.56.24.88",
        "1541-1873-8747-7485-5624-88",
        "INS-C : 154118738747 7485562488, le 12/03",
        "1541\u20131873\u20138747\u20137485\u20135624\u201388",
        "\uff11\uff15\uff14\uff11 1873 8747 7485 5624 88",
        "2024 1541 1873 8747 7485 5624 88",
    ],
)
def test_nir_and_ins_values_are_found_anywhere(text: str) -> None:
    assert looks_like_nir_or_ins(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "06 12 34 56 78",
        "+33 6 12 34 56 78",
        "12.05.1985",
        "lot 2024-03-15 n° 1234567",
        "1850578006084911",  # 16 digits: part of a longer number.
        "185007800608491",  # Month 00.
        "185137800608491",  # Month 13.
        "585057800608491",  # Sex digit 5.
        "12345678901234567890123",  # 23 digits.
        "2023 90963 619511",  # Separate numbers: cuts not where a NIR has them.
        "04 85 51 43 79 08 94 84 76 63 01 66 33 87 10",
        "876422 3475 781952 517942",  # 22 digits whose key is wrong: separate numbers.
        "1541 1873 8747 7485 5624 89",
        "01 23 45 67 89 / 01 23 45 67 89 / 12",
        "1.2.250.1.213.1.40",  # Another OID arc.
        "10012345673",  # An RPPS.
        "750712184",  # A FINESS.
        # False positives to avoid: dates, decimals, lab values, MedDRA codes, long numbers.
        "12/03/2024 12:30",
        "2024-03-15",
        "72,5",
        "0.000123",
        "1.5e3",
        "1e400",
        "6.02E23",
        "10019211",
        "10019211 10020772",
        "12.5 / 13.2 / 14.1",
        "3400893826706",
        "١٢٣",
    ],
)
def test_ordinary_values_are_not_flagged(text: str) -> None:
    assert not looks_like_nir_or_ins(text)


def test_nir_key_needs_13_characters_of_digits() -> None:
    with pytest.raises(ValueError):
        nir_key("185057800608")
    with pytest.raises(ValueError):
        nir_key("1850578X06084")


@st.composite
def nir_bodies(draw: st.DrawFn) -> str:
    sex = draw(st.sampled_from("1278"))
    year = f"{draw(st.integers(0, 99)):02d}"
    month = f"{draw(st.integers(1, 12)):02d}"
    department = draw(st.sampled_from(["01", "13", "59", "75", "95", "97", "99", "2A", "2B"]))
    rest = "".join(draw(st.lists(st.sampled_from(string.digits), min_size=6, max_size=6)))
    return sex + year + month + department + rest


@settings(max_examples=300)
@given(nir_bodies(), st.data())
def test_generated_nir_are_found_with_any_separators_in_any_text(body: str, data) -> None:
    nir = f"{body}{nir_key(body):02d}"
    assert is_valid_nir(nir)
    other_keys = [k for k in range(100) if k != nir_key(body)]
    assert not is_valid_nir(f"{body}{data.draw(st.sampled_from(other_keys)):02d}")
    # Split into the official units, join with random separators, embed in text.
    units = [nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]]
    separators = data.draw(
        st.lists(st.sampled_from(["", " ", ".", "-", "\u00a0"]), min_size=6, max_size=6)
    )
    spaced = units[0] + "".join(s + u for s, u in zip(separators, units[1:], strict=True))
    before = data.draw(st.text(alphabet=string.ascii_letters + " :,(", max_size=10))
    after = data.draw(st.text(alphabet=string.ascii_letters + " ,)", max_size=10))
    assert looks_like_nir_or_ins(before + spaced + after)
    assert looks_like_nir_or_ins(before + "".join(units[:6]) + after)


@settings(max_examples=200, deadline=None)
@given(any_disguise())
def test_every_disguise_of_a_nir_or_ins_is_found(text: str) -> None:
    assert looks_like_nir_or_ins(text)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("\uff17\uff12,\uff15", "72,5"),
        ("\u0667\u0662", "72"),
        ("7\u200b2", "72"),
        ("72\u00ad", "72"),
        ("\u00b9\u2070", "10"),
        ("a\x00b", "ab"),
        ("1 85\t05", "1 85\t05"),  # Separators stay: numbers and dates need them.
        ("AAC-2024-1", "AAC-2024-1"),
    ],
)
def test_typed_values_are_normalised_before_any_check(typed: str, read: str) -> None:
    assert normalise_typed(typed) == read


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(exclude_categories=("Nd",)), max_size=200))
def test_text_without_digits_is_never_flagged(text: str) -> None:
    assume(not any(c.isdigit() for c in text))
    assert not looks_like_nir_or_ins(text)


# --- Patient initials -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surname", "first_name", "expected"),
    [
        ("DUP", "EM", "DUP-EM"),
        ("dup", "ém", "DUP-EM"),
        ("Dùp", "É", "DUP-E"),
        ("Li", "Em", "LI-EM"),
        ("Lie", "M", "LIE-M"),
        ("N'D", "Jo", "ND-JO"),
        ("D’A", "J-P", "DA-JP"),
        ("Le G", "A B", "LEG-AB"),
        ("Œu", "Æ", "OEU-AE"),
        ("ß", "Ø", "SS-O"),
        ("Çà", "Ïs", "CA-IS"),
    ],
)
def test_initials_are_normalised(surname: str, first_name: str, expected: str) -> None:
    assert normalise_initials(surname, first_name) == expected


@pytest.mark.parametrize(
    ("surname", "first_name"),
    [
        ("DUPONT", "EM"),  # MIN-01: longer input is refused, never truncated.
        ("DUP", "Émile"),
        ("Le Goff", "A"),
        ("", "EM"),
        ("   ", "EM"),
        ("DUP", ""),
        ("D2P", "EM"),
        ("DU.", "EM"),
        ("Дми", "EM"),
        ("DUP", "E_"),
    ],
)
def test_invalid_initials_raise(surname: str, first_name: str) -> None:
    with pytest.raises(ValueError):
        normalise_initials(surname, first_name)


def test_name_letters_limit_is_a_parameter() -> None:
    assert normalise_name_letters("Émile", 5) == "EMILE"
    with pytest.raises(ValueError):
        normalise_name_letters("Émile", 4)


@settings(max_examples=300)
@given(st.text(max_size=6), st.text(max_size=4))
def test_initials_are_always_short_upper_case_letters(surname: str, first_name: str) -> None:
    try:
        code = normalise_initials(surname, first_name)
    except ValueError:
        return
    assert re.fullmatch(r"[A-Z]{1,3}-[A-Z]{1,2}", code)


def test_an_ins_c_has_a_64_bit_value_and_its_key() -> None:
    assert is_valid_ins_c("1541187387477485562488")
    assert not is_valid_ins_c("1541187387477485562489")
    body = 2**64  # one more than 64 bits can hold, with its key
    assert not is_valid_ins_c(f"{body}{97 - body % 97:02d}")
    assert not is_valid_ins_c("15411873874774855624")
