"""The shipped deny-list portal/data/common-passwords.txt (SEC-AUT-3d, ASVS 6.2.4)."""

from __future__ import annotations

import unicodedata

from portal.accounts.password_policy import COMMON_PASSWORDS_FILE, load_common_passwords


def _lines() -> list[str]:
    return COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()


def test_list_has_at_least_3000_entries() -> None:
    assert len(load_common_passwords()) >= 3000


def test_list_contains_french_and_english_passwords() -> None:
    common = load_common_passwords()
    french = {
        "azerty",
        "motdepasse",
        "soleil",
        "doudou",
        "chouchou",
        "marseille",
        "loulou",
        "jetaime",
        "bonjour",
        "nicolas",
    }
    assert french <= common
    assert {"password", "123456", "qwerty", "letmein", "iloveyou"} <= common


def test_header_names_sources_and_licences() -> None:
    header = _lines()[0]
    assert header.startswith("#")
    for needle in ("SecLists", "Richelieu", "MIT", "CC BY 4.0"):
        assert needle in header
    assert sum(1 for line in _lines() if line.startswith("#")) == 1


def test_entries_are_nfc_casefolded_unique_and_trimmed() -> None:
    entries = [line for line in _lines() if not line.startswith("#")]
    assert all(entries), "no blank lines"
    assert len(entries) == len(set(entries))
    for entry in entries:
        assert entry == entry.strip()
        assert entry == unicodedata.normalize("NFC", entry).casefold()
    assert len(load_common_passwords()) == len(entries)


def test_loader_is_cached() -> None:
    assert load_common_passwords() is load_common_passwords()
    assert load_common_passwords.cache_info().hits >= 1


def test_list_is_inside_the_package_data_folder() -> None:
    assert COMMON_PASSWORDS_FILE.parent.name == "data"
    assert COMMON_PASSWORDS_FILE.parent.parent.name == "portal"
    assert (COMMON_PASSWORDS_FILE.parent / "README.md").is_file()
