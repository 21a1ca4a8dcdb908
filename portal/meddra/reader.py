"""Reading a MedDRA ASCII distribution (the `MedAscii` folder of a release, any language).

The layout is the MSSO's "MedDRA Distribution File Format Document" (ASCII files, one record a
line, fields separated by `$`, a `$` closing each line), as loaders of that distribution spell
it (e.g. OHDSI Vocabulary-v5.0, MedDRA/llt.ctl and MedDRA/pt.ctl):

- llt.asc: llt_code $ llt_name $ pt_code $ llt_whoart_code $ llt_harts_code $ llt_costart_sym $
  llt_icd9_code $ llt_icd9cm_code $ llt_icd10_code $ llt_currency $ llt_jart_code $
- pt.asc: pt_code $ pt_name $ null_field $ pt_soc_code $ pt_whoart_code $ pt_harts_code $
  pt_costart_sym $ pt_icd9_code $ pt_icd9cm_code $ pt_icd10_code $ pt_jart_code $
- meddra_release.asc: version $ language $ ... (e.g. `27.0$English$$`)

Only codes, names, the LLT's PT and its currency are read; a translated release has the same
codes with names in its language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CODE_RE = re.compile(r"[0-9]{8}")
VERSION_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: fields before the closing `$` (older releases ended some lines without the last empty field)
LLT_FIELDS, PT_FIELDS = 11, 11
#: what meddra_release.asc calls the languages the portal shows
LANGUAGES = {"english": "en", "french": "fr", "français": "fr", "francais": "fr"}


class ReleaseFormatError(ValueError):
    """A file of the release is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class Term:
    code: str
    name: str
    pt_code: str | None
    current: bool


@dataclass(frozen=True)
class ReleaseFiles:
    """What a release folder holds: its version and language when it says them, its terms."""

    folder: Path
    version: str | None
    language: str | None
    llts: list[Term]
    pts: list[Term]


def release_folder(directory: Path) -> Path:
    """The folder holding llt.asc: DIR itself or DIR/MedAscii (how the release is unpacked)."""
    for candidate in (directory, directory / "MedAscii"):
        if (candidate / "llt.asc").is_file():
            return candidate
    raise ReleaseFormatError(f"{directory}: no llt.asc here nor in {directory / 'MedAscii'}")


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise ReleaseFormatError(f"{path}: file missing")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Releases before UTF-8 came in Windows-1252 (accented French names).
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as exc:
            bad_line = raw[:exc.start].count(b"\n") + 1
            raise ReleaseFormatError(
                f"{path.name}, line {bad_line}: neither UTF-8 nor Windows-1252 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        yield number, line.split("$")


def _fields(path: Path, number: int, parts: list[str], count: int) -> list[str]:
    if parts and parts[-1] == "":
        parts = parts[:-1]  # the closing `$`
    if len(parts) != count:
        raise ReleaseFormatError(
            f"{path.name}, line {number}: {len(parts)} fields where {count} are expected")
    return parts


def _code(path: Path, number: int, value: str, what: str) -> str:
    if not CODE_RE.fullmatch(value):
        raise ReleaseFormatError(
            f"{path.name}, line {number}: {what} {value!r} is not an 8-digit code")
    return value


def _name(path: Path, number: int, value: str, what: str) -> str:
    name = value.strip()
    if not name or _CONTROL.search(name):
        raise ReleaseFormatError(f"{path.name}, line {number}: {what} is empty or unreadable")
    return name


def read_pts(path: Path) -> list[Term]:
    terms, seen = [], set()
    for number, parts in _lines(path):
        fields = _fields(path, number, parts, PT_FIELDS)
        code = _code(path, number, fields[0], "pt_code")
        if code in seen:
            raise ReleaseFormatError(f"{path.name}, line {number}: pt_code {code} repeated")
        seen.add(code)
        terms.append(Term(code, _name(path, number, fields[1], "pt_name"), None, True))
    return terms


def read_llts(path: Path, pt_codes: set[str]) -> list[Term]:
    terms, seen = [], set()
    for number, parts in _lines(path):
        fields = _fields(path, number, parts, LLT_FIELDS)
        code = _code(path, number, fields[0], "llt_code")
        if code in seen:
            raise ReleaseFormatError(f"{path.name}, line {number}: llt_code {code} repeated")
        seen.add(code)
        pt_code = _code(path, number, fields[2], "pt_code")
        if pt_code not in pt_codes:
            raise ReleaseFormatError(
                f"{path.name}, line {number}: pt_code {pt_code} is not in pt.asc")
        currency = fields[9].strip().upper()
        if currency not in ("Y", "N"):
            raise ReleaseFormatError(
                f"{path.name}, line {number}: llt_currency {fields[9]!r} is neither Y nor N")
        terms.append(Term(code, _name(path, number, fields[1], "llt_name"), pt_code,
                          currency == "Y"))
    return terms


def read_release_line(path: Path) -> tuple[str | None, str | None]:
    """(version, language code) from meddra_release.asc; (None, None) when there is none."""
    if not path.is_file():
        return None, None
    for number, parts in _lines(path):
        version = parts[0].strip()
        if not VERSION_RE.fullmatch(version):
            raise ReleaseFormatError(
                f"{path.name}, line {number}: {version!r} is not a MedDRA version")
        language = parts[1].strip().lower() if len(parts) > 1 else ""
        return version, LANGUAGES.get(language, language or None)
    return None, None


def read_release(directory: Path) -> ReleaseFiles:
    """Read and check a release folder.

    :raises ReleaseFormatError: a file missing, or the first malformed line (file and line).
    """
    folder = release_folder(directory)
    version, language = read_release_line(folder / "meddra_release.asc")
    pts = read_pts(folder / "pt.asc")
    llts = read_llts(folder / "llt.asc", {t.code for t in pts})
    return ReleaseFiles(folder, version, language, llts, pts)
