"""Loading the laboratory's MedDRA release; checking a typed code; naming a stored one.

A form field is MedDRA-coded when it is a typed `coded` field (no protocol code list) whose
`dictionary` names MedDRA: "MedDRA PT" fields take a PT code, any other MedDRA field (LLT,
or the dictionary alone) a current LLT. Every PT is also an LLT of the same code, so an LLT
field accepts a PT code too, as MedDRA coding does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session
from wtforms.validators import ValidationError

from portal import clock
from portal.audit.services import actor_fields, record
from portal.db import get_session, table_of
from portal.meddra.models import LLT, PT, MeddraRelease, MeddraTerm
from portal.meddra.reader import CODE_RE, VERSION_RE, ReleaseFormatError, read_release

LANGUAGES = ("fr", "en")
LOAD_ACTION = "meddra:release:load"
_PT_RE = re.compile(r"\bPT\b", re.IGNORECASE)


class ReleaseRefused(ValueError):
    """The release cannot be loaded; the message says why (file and line when malformed)."""


@dataclass(frozen=True)
class Loaded:
    release: MeddraRelease
    #: the version this load replaced for the language, if any
    replaced: str | None
    #: versions loaded for the other language when they differ from this one
    other_versions: list[str]


def load_release(session: Session, actor: Any, directory: Path,
                 language: str | None = None, version: str | None = None) -> Loaded:
    """Load (or replace) the release of one language from its ASCII files, in the caller's
    transaction; nothing is written when a file is malformed.

    :raises ReleaseRefused: a missing or malformed file, or no language or version known.
    """
    try:
        files = read_release(directory)
    except ReleaseFormatError as exc:
        raise ReleaseRefused(str(exc)) from None
    if language and files.language and files.language != language:
        raise ReleaseRefused(
            f"meddra_release.asc says this release is in {files.language!r}, not {language!r}")
    language = language or files.language
    if language is None:
        raise ReleaseRefused("the release does not say its language: give --language fr|en")
    if language not in LANGUAGES:
        raise ReleaseRefused(f"language {language!r}: the portal shows only French and English")
    if version and not VERSION_RE.fullmatch(version):
        raise ReleaseRefused(f"{version!r} is not a MedDRA version (such as 27.0)")
    if version and files.version and version != files.version:
        raise ReleaseRefused(
            f"meddra_release.asc says version {files.version}, not {version}")
    version = version or files.version
    if version is None:
        raise ReleaseRefused("no meddra_release.asc: give the version with --meddra-version")
    release = session.scalar(select(MeddraRelease).where(MeddraRelease.language == language))
    replaced = release.version if release is not None else None
    if release is None:
        release = MeddraRelease(language=language)
        session.add(release)
    else:
        session.execute(delete(MeddraTerm).where(MeddraTerm.release_id == release.id))
    release.version = version
    release.loaded_at = clock.now()
    release.loaded_by_label = actor_fields(actor)[2][:128]
    release.llt_count, release.pt_count = len(files.llts), len(files.pts)
    session.flush()
    rows = [{"release_id": release.id, "level": PT, "code": t.code, "name": t.name,
             "pt_code": None, "current": True} for t in files.pts]
    rows += [{"release_id": release.id, "level": LLT, "code": t.code, "name": t.name,
              "pt_code": t.pt_code, "current": t.current} for t in files.llts]
    # One executemany per 5,000 rows, without the ORM's bookkeeping (a release is some
    # 100,000 rows).
    connection = session.connection()
    for start in range(0, len(rows), 5000):
        connection.execute(insert(table_of(MeddraTerm)), rows[start:start + 5000])
    others = sorted({r.version for r in loaded_releases(session)
                     if r.language != language and r.version != version})
    record(session, actor, LOAD_ACTION, release, version=version, language=language,
           replaced=replaced or "none", llt_count=len(files.llts), pt_count=len(files.pts))
    return Loaded(release, replaced, others)


def loaded_releases(session: Session) -> list[MeddraRelease]:
    """The loaded releases (at most one per language)."""
    return list(session.scalars(select(MeddraRelease).order_by(MeddraRelease.language)))


# --- which fields are MedDRA-coded ----------------------------------------------------------


def level_of(fld: Any) -> str | None:
    """LLT or PT for a typed MedDRA-coded field, else None (a protocol code list is closed)."""
    dictionary = getattr(fld, "dictionary", None) or ""
    if getattr(fld, "type", None) != "coded" or getattr(fld, "code_list", None):
        return None
    if "meddra" not in dictionary.lower():
        return None
    return PT if _PT_RE.search(dictionary) else LLT


def form_has_meddra(form: Any) -> bool:
    """Whether a protocol form has a typed MedDRA-coded field."""
    return any(level_of(fld) for section in form.sections for fld in section.fields)


def _request_session() -> Session | None:
    """The request's (or app context's) session; None outside an app, where nothing is loaded."""
    return get_session() if has_app_context() else None


# --- checking a typed code ------------------------------------------------------------------


def code_problem(session: Session, code: str, level: str) -> str | None:
    """Why `code` is refused at `level`, or None when it is accepted.

    Always: eight digits. With a release loaded: a current LLT (or a PT, for a PT field) of a
    loaded release. With none: the format only.
    """
    if not CODE_RE.fullmatch(code):
        return _("A MedDRA code has 8 digits.")
    releases = loaded_releases(session)
    if not releases:
        return None
    found = session.execute(
        select(MeddraTerm.level, MeddraTerm.current)
        .where(MeddraTerm.code == code, MeddraTerm.release_id.in_([r.id for r in releases]))
    ).all()
    versions = ", ".join(sorted({r.version for r in releases}))
    if level == PT:
        if any(row.level == PT for row in found):
            return None
        return _("%(code)s is not a MedDRA PT of the loaded release (MedDRA %(version)s).",
                 code=code, version=versions)
    if any(row.level == LLT and row.current for row in found):
        return None
    if any(row.level == LLT for row in found):
        return _("%(code)s is a non-current MedDRA LLT (MedDRA %(version)s): choose a current "
                 "term.", code=code, version=versions)
    return _("%(code)s is not a MedDRA LLT of the loaded release (MedDRA %(version)s).",
             code=code, version=versions)


def validators_for(fld: Any) -> list[Callable[[Any, Any], None]]:
    """The WTForms validators of a field: one for a MedDRA-coded field, none otherwise."""
    level = level_of(fld)
    if level is None:
        return []

    def check(_form: Any, field: Any) -> None:
        if field.data is None:
            return
        code = str(field.data)
        if not CODE_RE.fullmatch(code):
            raise ValidationError(_l("A MedDRA code has 8 digits."))
        session = _request_session()
        problem = code_problem(session, code, level) if session is not None else None
        if problem:
            raise ValidationError(problem)

    return [check]


# --- naming a stored code -------------------------------------------------------------------


class TermNames:
    """Names of codes in the reader's language, else the other loaded one; each code is looked
    up once (an export names the same few codes over and over)."""

    def __init__(self, session: Session | None, locale: str) -> None:
        self.session = session
        releases = loaded_releases(session) if session is not None else []
        language = (locale or "fr").split("_")[0]
        # The reader's language first, then the other.
        self.release_ids = [r.id for r in sorted(releases, key=lambda r: r.language != language)]
        self.loaded = bool(releases)
        self._names: dict[tuple[str, str], str | None] = {}

    def name(self, code: Any, level: str = LLT) -> str | None:
        """The name of `code` at `level`, or None (no release, or not in it)."""
        key = (str(code), level)
        if key not in self._names:
            self._names[key] = self._lookup(*key) if self.loaded else None
        return self._names[key]

    def _lookup(self, code: str, level: str) -> str | None:
        assert self.session is not None
        rows = self.session.execute(
            select(MeddraTerm.release_id, MeddraTerm.name)
            .where(MeddraTerm.code == code, MeddraTerm.level == level,
                   MeddraTerm.release_id.in_(self.release_ids))
        ).all()
        by_release = {row.release_id: row.name for row in rows}
        return next((by_release[i] for i in self.release_ids if i in by_release), None)

    def describe(self, code: Any, level: str = LLT) -> str:
        """`code — name` as a page shows it, or the code with why it has no name."""
        text = str(code)
        if not self.loaded:
            return _("%(code)s (not checked: no MedDRA release is loaded)", code=text)
        name = self.name(text, level)
        if name is None:
            return _("%(code)s (not in the loaded MedDRA release)", code=text)
        return f"{text} — {name}"


def term_names(locale: str, session: Session | None = None) -> TermNames:
    """Names for the current request (or the given session), in `locale`."""
    return TermNames(session if session is not None else _request_session(), locale)


def unchecked_note(form: Any) -> str | None:
    """What a form page says when its MedDRA codes cannot be checked (no release loaded)."""
    if not form_has_meddra(form):
        return None
    session = _request_session()
    if session is None or loaded_releases(session):
        return None
    return _("No MedDRA release is loaded: MedDRA codes are checked for their format "
             "(8 digits) only, not against the dictionary.")

