"""Password policy: CNIL 2022-100 case 1 vectors (SEC-AUT-3a..3e)."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.accounts import password_policy as pp
from portal.accounts.password_policy import (
    MAX_LENGTH,
    REASON_MESSAGES,
    RULES,
    Reason,
    check_password,
    context_tokens,
    entropy_bits,
    is_common,
    meets_strength_rule,
    normalise,
    passphrase_word_count,
)

# Random-looking strings, checked by hand not to contain list entries or portal names.
LOWER_17 = "qmzvkdjwpxbhtrnya"
LOWER_18 = "qmzvkdjwpxbhtrnyaf"
DIGITS_24 = "839201746382910475638291"
DIGITS_25 = "8392017463829104756382910"


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        # security-requirements.md SEC-AUT-3a vectors.
        ("Tq7!vLm#2xRp", []),  # 12 characters, 4 classes: rule (i).
        ("Tq7!vLm#2xR", ["too_short"]),  # 11 characters, 4 classes.
        ("Tq7vLm2xRpWk", ["too_weak"]),  # 12 characters, 3 classes, 71.5 bits.
        ("Tq7vLm2xRpWk9Z", []),  # 14 characters, 3 classes: rule (ii).
        ("Tq7vLm2xRpWk9", ["too_weak"]),  # 13 characters, 3 classes, 77.4 bits.
        (LOWER_17, ["too_weak"]),  # 79.9 bits.
        (LOWER_18, []),  # 84.6 bits: rule (iv).
        (DIGITS_24, ["too_weak"]),  # 79.7 bits.
        (DIGITS_25, []),  # 83.0 bits.
        ("le vieux chat dort sous la table", []),  # 7 words: rule (iii).
        ("le vieux chat dort sous table", ["too_weak"]),  # 6 words.
        # SEC-AUT-3c: spaces and accents.
        ("mot de passe très long été 2026", []),
        # SEC-AUT-3d: 14 characters, 4 classes, but a common password with decorations.
        ("Motdepasse123!", ["common"]),
    ],
)
def test_security_requirement_vectors(password: str, expected: list[str]) -> None:
    assert check_password(password) == expected


def test_login_inside_password_is_refused() -> None:
    assert check_password("Dupont2026!Xy", login="dupont") == ["contains_personal"]
    assert check_password("Dupont2026!Xy", login="martin") == []


@pytest.mark.parametrize(
    ("password", "bits"),
    [
        ("Tq7!vLm#2xRp", 79.55),
        ("Tq7!vLm#2xR", 72.9),
        ("Tq7vLm2xRpWk9Z", 83.4),
        ("Tq7vLm2xRpWk9", 77.4),
        ("Tq7vLm2xRpWk", 71.5),
        (LOWER_17, 79.9),
        (LOWER_18, 84.6),
        (DIGITS_24, 79.7),
        (DIGITS_25, 83.0),
    ],
)
def test_entropy_matches_the_computed_table(password: str, bits: float) -> None:
    assert entropy_bits(password) == pytest.approx(bits, abs=0.05)


def test_special_pool_is_37_and_counts_spaces_and_accents_as_their_class() -> None:
    assert pp.POOL_SPECIALS == 37
    # 10 characters of "!": pool 37.
    assert entropy_bits("!" * 10) == pytest.approx(10 * 5.2094, abs=0.001)
    # "é" is a lower-case letter (pool 26), a space is special (pool 37).
    assert entropy_bits("é" * 10) == entropy_bits("e" * 10)
    assert entropy_bits("a b") == pytest.approx(3 * 5.9773, abs=0.001)
    assert entropy_bits("") == 0.0


def test_length_limits_128_accepted_129_refused_never_truncated() -> None:
    base = "Tq7!vLm#2xRp"
    accepted_64 = (base * 6)[:64]
    accepted_128 = (base * 11)[:128]
    assert check_password(accepted_64) == []
    assert check_password(accepted_128) == []
    assert check_password(accepted_128 + "Z") == ["too_long"]


def test_length_counts_code_points_after_nfc() -> None:
    # 126 "é" typed as e + combining accent, plus "A1": 254 code points before NFC, 128 after.
    decomposed = "e\u0301" * 126 + "A1"
    assert len(decomposed) > MAX_LENGTH
    assert "too_long" not in check_password(decomposed)
    assert "too_long" in check_password("e\u0301" * 127 + "A1")


def test_empty_password_is_too_short() -> None:
    assert check_password("") == ["too_short"]


@pytest.mark.parametrize("bad", ["\x00", "\n", "\t", "\x7f", "\u2028", "\u2029", "\ud800"])
def test_control_characters_are_refused(bad: str) -> None:
    assert "invalid_character" in check_password("Tq7!vLm#2xRp" + bad)


@pytest.mark.parametrize("ok", [" ", "\u00a0", "\u202f", "é", "€", "😀", "中", "ß"])
def test_printable_unicode_is_allowed(ok: str) -> None:
    assert check_password("Tq7!vLm#2xRp" + ok) == []


def test_normalise_is_nfc_without_case_folding_or_stripping() -> None:
    decomposed = " E\u0301te\u0301 Abc "
    assert normalise(decomposed) == " Été Abc "
    assert normalise("AbC") == "AbC"
    assert unicodedata.is_normalized("NFC", normalise("e\u0301"))


def test_passphrase_words_are_distinct_and_at_least_two_characters() -> None:
    assert passphrase_word_count("le vieux chat dort sous la table") == 7
    assert passphrase_word_count("chat chat chat chat chat chat chat") == 1
    assert passphrase_word_count("Chat chat CHAT") == 1
    assert passphrase_word_count("a b c d e f g") == 0
    assert passphrase_word_count("le-vieux-chat-dort-sous-la-table") == 7


def test_repeated_words_do_not_make_a_passphrase() -> None:
    assert check_password("chat chat chat chat chat chat chat") == ["too_weak"]


def test_phrase_rule_does_not_depend_on_the_separator() -> None:
    # A 6-word phrase is refused with spaces or hyphens alike; 7 words are accepted.
    assert check_password("le-vieux-chat-dort-sous-table") == ["too_weak"]
    assert check_password("le vieux chat dort sous table") == ["too_weak"]
    assert check_password("le-vieux-chat-dort-sous-la-table") == []


def test_random_characters_with_separators_still_use_the_entropy_rule() -> None:
    # Tokens with digits are not dictionary words: the character formula applies (99 bits).
    assert meets_strength_rule("k3-j9_x2.pq7-zz8")


@settings(max_examples=200)
@given(st.text(alphabet=string.ascii_lowercase, min_size=18, max_size=60))
def test_any_18_lowercase_letters_meet_the_strength_rule(password: str) -> None:
    assert meets_strength_rule(password)


@settings(max_examples=200)
@given(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=17))
def test_17_lowercase_letters_never_meet_the_strength_rule(password: str) -> None:
    assert not meets_strength_rule(password)


@settings(max_examples=200)
@given(st.text(alphabet=string.digits, min_size=25, max_size=60))
def test_any_25_digits_meet_the_strength_rule(password: str) -> None:
    assert meets_strength_rule(password)


@settings(max_examples=200)
@given(st.text(alphabet=string.digits, min_size=1, max_size=24))
def test_24_digits_never_meet_the_strength_rule(password: str) -> None:
    assert not meets_strength_rule(password)


@settings(max_examples=300)
@given(st.text(min_size=0, max_size=11))
def test_nothing_under_12_characters_is_accepted(password: str) -> None:
    if len(normalise(password)) < 12:
        assert check_password(password)


@settings(max_examples=100)
@given(st.text(min_size=129, max_size=300))
def test_nothing_over_128_characters_is_accepted(password: str) -> None:
    if len(normalise(password)) > MAX_LENGTH:
        assert "too_long" in check_password(password)


@settings(max_examples=300)
@given(st.text(max_size=140))
def test_result_is_made_of_known_codes_and_equal_for_nfc_and_nfd(password: str) -> None:
    reasons = check_password(password)
    assert set(reasons) <= {r.value for r in Reason}
    assert len(reasons) == len(set(reasons))
    assert check_password(unicodedata.normalize("NFD", password)) == reasons


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=5))
def test_entropy_grows_with_length(password: str, suffix: str) -> None:
    if normalise(password + suffix) != normalise(password) + normalise(suffix):
        return  # Combining characters merge across the boundary; lengths are not additive.
    assert entropy_bits(password + suffix) > entropy_bits(password)


# --- Deny-list (SEC-AUT-3d) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "Motdepasse123!",
        "MOTDEPASSE123!",  # Case-insensitive; no lower-case, passes on entropy otherwise.
        "Azerty123456!",
        "Marseille2026!!",
        "2026!Soleil!!!",  # Decorations on both sides.
        "P@ssw0rd2024!",  # Substitutions undone.
        "1l0veyou2026!",  # "1" read as "i".
        "azertyuiop",  # The entry itself (also too short).
    ],
)
def test_common_passwords_and_variants_are_refused(password: str) -> None:
    assert "common" in check_password(password)
    assert is_common(password)


def test_common_check_ignores_short_cores() -> None:
    # The list holds one-letter entries ("p", "m"); a random password around one is fine.
    assert not is_common("7#9!x2@4%1&8^3")
    assert "common" not in check_password("7#9!m2@4%1&8^3Q")


def test_strong_passwords_are_not_common() -> None:
    for password in ("Tq7!vLm#2xRp", LOWER_18, DIGITS_25, "le vieux chat dort sous la table"):
        assert not is_common(password)


# --- Context words (SEC-AUT-3e) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "kwargs"),
    [
        ("Dupont2026!Xy", {"login": "dupont"}),
        ("xyDUPONT2026!", {"login": "Dupont"}),
        ("Dup0nt2026!Xy", {"login": "dupont"}),  # Substitution undone.
        ("Martin#2026xyZ", {"email": "j.martin@chu-exemple.fr"}),
        ("Jmartin#2026xyZ", {"email": "j.martin@chu-exemple.fr"}),  # Joined local part.
        ("Martin#2026xyZ", {"login": "j.martin@chu-exemple.fr"}),  # Login that is an e-mail.
        ("Eloise2026!Xyz", {"names": ["Éloïse"]}),  # Accent-insensitive.
        ("Éloïse2026!Xy", {"names": ["Eloise"]}),
        ("Jeanpierre#26X", {"names": ["Jean-Pierre"]}),
        ("Pierre#2026xyZ", {"names": ["Jean-Pierre", "Durand"]}),
        ("Xyz123!abcdQW", {"names": ["XYZ-123"]}),  # Product name, joined tokens.
        ("Lab!Novapharm26", {"names": ["NovaPharm SAS"]}),  # Laboratory name.
        ("Portail#2026xyZ", {}),  # Portal names are always refused.
        ("Aacportal#2026Z", {}),
    ],
)
def test_personal_and_product_words_are_refused(password: str, kwargs: dict) -> None:
    assert check_password(password, **kwargs) == ["contains_personal"]


def test_e_mail_domains_are_not_personal_words() -> None:
    assert check_password("Orange#2026xyZ", email="j.martin@orange.fr") == []
    assert check_password("Orange#2026xyZ", login="j.martin@orange.fr") == []
    assert "orange" not in context_tokens(login="j.martin@orange.fr", email="x.y@orange.fr")


def test_context_tokens_shorter_than_4_characters_are_ignored() -> None:
    assert check_password("Li2026!Xyzqwr", login="li", names=["Li", "Bo"]) == []
    assert "li" not in context_tokens(login="li")


def test_context_tokens_are_folded() -> None:
    tokens = context_tokens(
        login="J.Dupont", email="jean-pierre.durand@example.org", names=["Éloïse", "XYZ-123"]
    )
    assert {"dupont", "jdupont", "jean", "pierre", "durand", "eloise", "xyz123"} <= tokens
    assert "portal" in tokens and "portail" in tokens
    assert "example" not in tokens


# --- Display ----------------------------------------------------------------------------------


def test_rules_show_the_policy_numbers() -> None:
    text = " ".join(rule.text for rule in RULES)
    for number in ("12", "14", "7", "80", "128"):
        assert number in text
    assert len({rule.key for rule in RULES}) == len(RULES)


def test_every_reason_has_a_default_message() -> None:
    assert set(REASON_MESSAGES) == {r.value for r in Reason}
    assert all(REASON_MESSAGES.values())


def test_reason_codes_are_stable_strings() -> None:
    assert [r.value for r in Reason] == [
        "invalid_character",
        "too_long",
        "too_short",
        "too_weak",
        "common",
        "contains_personal",
    ]
    assert all(isinstance(code, str) for code in check_password("x"))
