"""Drafts of protocol definitions written in the browser, and their maker-checker cycle.

One code path with the CLI: a draft's text goes through the same loader and linter as
`protocol check`, its imports through the same importers as `protocol import-*`, and its
approval through `services.install_loaded`, the step `protocol install` ends with.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import actor_fields, record
from portal.db import rows_affected
from portal.errors import BadRequest, Conflict, Forbidden, NotFound
from portal.protocols import structure
from portal.protocols.compare import Change, compare
from portal.protocols.importers.common import ImportFormatError, ImportReport, dump_yaml
from portal.protocols.importers.odm import import_odm_file
from portal.protocols.importers.redcap import import_redcap_files
from portal.protocols.importers.xlsform import import_xlsform_file
from portal.protocols.loader import (
    LoadedProtocol,
    Problem,
    ProtocolDefinitionError,
    guess_format,
    load_text,
)
from portal.protocols.models import DraftStatus, ProtocolDraft, ProtocolVersion
from portal.protocols.services import (
    Installed,
    current_version,
    install_loaded,
    loaded,
    stored_breaks,
)

#: how a draft may start, besides the version in force
IMPORT_KINDS = ("redcap", "odm", "xlsform")
#: the REDCap project's optional side files, besides the data dictionary
REDCAP_SIDE_FILES = ("events", "mapping", "repeating")


class DraftError(BadRequest):
    """Input a draft cannot start from or move on with; the message says why."""


class DraftConflict(Conflict):
    """Someone saved the draft since the given revision: nothing was overwritten."""

    def __init__(self, draft: ProtocolDraft) -> None:
        super().__init__(f"{draft.updated_by_label} saved this draft after you opened it "
                         f"(revision {draft.revision})")
        self.draft = draft


class NotSubmittable(Conflict):
    """A draft with findings or breaking changes cannot be submitted."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Lint:
    """What the loader says of a text: problems (it cannot be installed), warnings (points to
    settle first), and the parsed definition when there is no problem."""

    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()
    protocol: LoadedProtocol | None = None

    @property
    def findings(self) -> tuple[Problem, ...]:
        return self.problems + self.warnings

    @property
    def clean(self) -> bool:
        return not self.problems and not self.warnings


def lint(text: str, source_name: str) -> Lint:
    """Run the loader and every rule over a text, exactly as `protocol check` does."""
    try:
        protocol = load_text(text, source_name, guess_format(source_name))
    except ProtocolDefinitionError as error:
        return Lint(tuple(error.problems))
    return Lint((), protocol.warnings, protocol)


@dataclass(frozen=True)
class Comparison:
    """A draft against the version in force: every change, and what stored data forbid."""

    base: ProtocolVersion | None
    changes: list[Change] = field(default_factory=list)
    breaks: list[str] = field(default_factory=list)


def comparison(session: Session, draft: ProtocolDraft, result: Lint | None = None
               ) -> Comparison | None:
    """Compare a draft with the version in force of its key (None if the draft is invalid)."""
    result = result or lint(draft.text, draft.source_name)
    if result.protocol is None:
        return None
    base = current_version(session, result.protocol.key)
    old = loaded(base).definition if base is not None else None
    return Comparison(base, compare(old, result.protocol.definition),
                      stored_breaks(session, result.protocol))


def get_draft(session: Session, draft_id: int) -> ProtocolDraft:
    draft = session.get(ProtocolDraft, draft_id)
    if draft is None:
        raise NotFound()
    return draft


def list_drafts(session: Session, *, open_only: bool = False) -> list[ProtocolDraft]:
    query = select(ProtocolDraft).order_by(ProtocolDraft.updated_at.desc(), ProtocolDraft.id.desc())
    if open_only:
        query = query.where(ProtocolDraft.status.in_([DraftStatus.EDITING, DraftStatus.SUBMITTED]))
    return list(session.scalars(query))


def _key_of(result: Lint) -> str:
    return result.protocol.key if result.protocol is not None else ""


def start_draft(session: Session, actor: Any, text: str, source_name: str, origin: str, *,
                report: ImportReport | None = None) -> ProtocolDraft:
    """Store a new draft (any text: its findings are shown, never a reason to lose it)."""
    _kind, actor_id, label = actor_fields(actor)
    result = lint(text, source_name)
    key = _key_of(result)
    base = current_version(session, key) if key else None
    now = clock.now()
    draft = ProtocolDraft(
        protocol_key=key, source_name=source_name, text=text, revision=1,
        status=DraftStatus.EDITING, origin=origin,
        base_version_id=base.id if base is not None else None,
        import_report=report_json(report) if report is not None else None,
        author_id=actor_id if _kind == "user" else None, author_label=label,
        created_at=now, updated_at=now, updated_by_label=label,
    )
    session.add(draft)
    session.flush()
    record(session, actor, "protocols:draft:create", draft, origin=origin,
           problems=len(result.findings))
    return draft


def start_from_current(session: Session, actor: Any, protocol_key: str) -> ProtocolDraft:
    """A draft holding the text of the version in force, word for word."""
    version = current_version(session, protocol_key)
    if version is None:
        raise NotFound(f"no version of {protocol_key} is in force")
    return start_draft(session, actor, version.source_text, version.source_name, "current")


def _decode(filename: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DraftError(f"{filename}: not UTF-8 text (byte {exc.start})") from None


def start_from_file(session: Session, actor: Any, filename: str, data: bytes) -> ProtocolDraft:
    """A draft from an uploaded definition (YAML, or JSON for a *.json name)."""
    name = Path(filename).name or "definition.yaml"
    if Path(name).suffix.lower() not in (".yaml", ".yml", ".json"):
        raise DraftError(f"{name}: a definition is a .yaml, .yml or .json file")
    return start_draft(session, actor, _decode(name, data), name, "file")


def _safe_name(filename: str, default: str) -> str:
    name = Path(filename.replace("\\", "/")).name
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or default


def import_files(kind: str, files: Mapping[str, tuple[str, bytes]]) -> tuple[str, ImportReport]:
    """Run an importer over uploaded files, as `protocol import-<kind>` runs it over paths.

    :param files: role → (file name, content); `main` is the dictionary, study or form, and
        REDCap's `events`, `mapping` and `repeating` may come beside it.
    :returns: the definition as YAML text and the per-field fate report.
    :raises DraftError: when a file cannot be read (the importer names the line).
    """
    if kind not in IMPORT_KINDS:
        raise DraftError(f"unknown import kind {kind!r}")
    if "main" not in files:
        raise DraftError("choose the file to import")
    with tempfile.TemporaryDirectory(prefix="portal-import-") as directory:
        paths: dict[str, Path] = {}
        for role, (filename, data) in files.items():
            # The importers read the suffix (XLSForm: .xlsx or .csv) and name the file in
            # their messages: keep the uploaded name, each in its own folder.
            folder = Path(directory) / role
            folder.mkdir()
            paths[role] = folder / _safe_name(filename, f"{role}.csv")
            paths[role].write_bytes(data)
        try:
            if kind == "redcap":
                definition, report = import_redcap_files(
                    paths["main"], paths.get("events"), paths.get("mapping"),
                    paths.get("repeating"))
            elif kind == "odm":
                definition, report = import_odm_file(paths["main"])
            else:
                definition, report = import_xlsform_file(paths["main"])
        except ImportFormatError as error:
            raise DraftError(_unscratched(str(error), paths)) from None
        source = paths["main"].name
        report.source = source
        for item in report.fields:
            item.source = _unscratched(item.source, paths)
        return dump_yaml(definition, source), report


def _unscratched(text: str, paths: Mapping[str, Path]) -> str:
    """A message naming the uploaded file, not the scratch folder it was read from."""
    for path in paths.values():
        text = text.replace(str(path), path.name)
    return text


def start_from_import(session: Session, actor: Any, kind: str,
                      files: Mapping[str, tuple[str, bytes]]) -> ProtocolDraft:
    """A draft from a REDCap dictionary, an ODM study or an XLSForm, with the fate report."""
    text, report = import_files(kind, files)
    name = Path(_safe_name(files["main"][0], "import")).stem + ".yaml"
    return start_draft(session, actor, text, name, kind, report=report)


def report_json(report: ImportReport) -> str:
    return json.dumps({
        "source": report.source,
        "fields": [{"source": f.source, "form": f.form, "key": f.key, "fate": f.fate,
                    "reasons": f.reasons} for f in report.fields],
        "notes": report.notes,
    }, ensure_ascii=False)


def import_report(draft: ProtocolDraft) -> dict[str, Any] | None:
    """The fate report kept with a draft started from an import."""
    return json.loads(draft.import_report) if draft.import_report else None


@dataclass(frozen=True)
class Saved:
    draft: ProtocolDraft
    lint: Lint


def save_text(session: Session, actor: Any, draft_id: int, text: str, revision: int) -> Saved:
    """Store a new text if nobody saved since `revision`, then lint it.

    :raises DraftConflict: when someone else saved in between (nothing is overwritten).
    :raises Conflict: when the draft is no longer being edited.
    """
    draft = get_draft(session, draft_id)
    if draft.status != DraftStatus.EDITING:
        raise Conflict("this draft was submitted: it can no longer be changed")
    result = lint(text, draft.source_name)
    _kind, _id, label = actor_fields(actor)
    key = _key_of(result) or draft.protocol_key
    # One statement decides: two saves from the same revision cannot both pass.
    done = rows_affected(session.execute(
        update(ProtocolDraft)
        .where(ProtocolDraft.id == draft_id, ProtocolDraft.revision == revision,
               ProtocolDraft.status == DraftStatus.EDITING)
        .values(text=text, revision=ProtocolDraft.revision + 1, updated_at=clock.now(),
                updated_by_label=label, protocol_key=key)
        .execution_options(synchronize_session=False)
    ))
    session.refresh(draft)
    if not done:
        raise DraftConflict(draft)
    record(session, actor, "protocols:draft:save", draft, revision=draft.revision,
           problems=len(result.problems), warnings=len(result.warnings))
    return Saved(draft, result)


def edit_structure(session: Session, actor: Any, draft_id: int, revision: int,
                   edit: Callable[[dict[str, Any]], Any]) -> tuple[Saved, Any]:
    """Apply a structured edit to the draft's text and save it like a typed text.

    :param edit: changes the parsed definition in place; what it returns is handed back.
    :raises StructureError: when the text does not parse or the target is missing.
    :raises DraftConflict: when someone saved since `revision`.
    """
    draft = get_draft(session, draft_id)
    if draft.revision != revision:
        raise DraftConflict(draft)
    data = structure.parse(draft.text, draft.source_name)
    outcome = edit(data)
    text = structure.dump(data, draft.source_name)
    return save_text(session, actor, draft_id, text, revision), outcome


def _contributors(draft: ProtocolDraft) -> set[str]:
    return {draft.author_label, draft.updated_by_label}


def submit(session: Session, actor: Any, draft_id: int, revision: int) -> Comparison:
    """Hand the draft to a second manager; refused while it has findings or would break
    stored submissions (the reasons are given).

    :raises DraftConflict: when the draft changed since `revision`.
    """
    draft = get_draft(session, draft_id)
    if draft.status != DraftStatus.EDITING:
        raise Conflict("this draft is not being edited")
    if draft.revision != revision:
        raise DraftConflict(draft)
    result = lint(draft.text, draft.source_name)
    if not result.clean:
        raise NotSubmittable([str(p) for p in result.findings])
    compared = comparison(session, draft, result)
    assert compared is not None  # a clean lint has a definition
    if compared.breaks:
        raise NotSubmittable(
            [f"{b} (stored submissions use it)" for b in compared.breaks])
    done = rows_affected(session.execute(
        update(ProtocolDraft)
        .where(ProtocolDraft.id == draft_id, ProtocolDraft.revision == revision,
               ProtocolDraft.status == DraftStatus.EDITING)
        .values(status=DraftStatus.SUBMITTED, submitted_at=clock.now(),
                revision=ProtocolDraft.revision + 1)
        .execution_options(synchronize_session=False)
    ))
    session.refresh(draft)
    if not done:
        raise DraftConflict(draft)
    record(session, actor, "protocols:draft:submit", draft, revision=draft.revision,
           changes=len(compared.changes))
    return compared


def _decide(session: Session, actor: Any, draft: ProtocolDraft, status: str,
            reason: str | None = None) -> None:
    kind, actor_id, label = actor_fields(actor)
    draft.status = status
    draft.decided_at = clock.now()
    draft.decided_by_id = actor_id if kind == "user" else None
    draft.decided_by_label = label
    draft.refusal_reason = reason
    draft.revision += 1


def may_decide(draft: ProtocolDraft, actor: Any) -> bool:
    """Whether `actor` is a second person for this submitted draft (permission aside)."""
    _kind, _id, label = actor_fields(actor)
    return draft.status == DraftStatus.SUBMITTED and label not in _contributors(draft)


def _checker(draft: ProtocolDraft, actor: Any) -> None:
    if draft.status != DraftStatus.SUBMITTED:
        raise Conflict("only a submitted draft can be approved or refused")
    _kind, _id, label = actor_fields(actor)
    if label in _contributors(draft):
        raise Forbidden("a second person approves: whoever wrote or last changed a draft "
                        "cannot approve or refuse it")


def approve(session: Session, actor: Any, draft_id: int) -> Installed:
    """Put a submitted draft in force, as a second person (never its author or last editor).

    :raises Forbidden: for the author or the last editor.
    :raises IncompatibleVersion: when stored submissions appeared that it would break.
    :raises ReleaseBlocked: when another area refuses it for now.
    """
    draft = get_draft(session, draft_id)
    _checker(draft, actor)
    result = lint(draft.text, draft.source_name)
    if result.protocol is None or not result.clean:
        raise NotSubmittable([str(p) for p in result.findings])
    installed = install_loaded(session, actor, result.protocol, draft.text, draft.source_name,
                               author_label=draft.author_label, approved=True)
    _decide(session, actor, draft, DraftStatus.APPROVED)
    draft.installed_version_id = installed.version.id
    session.flush()
    record(session, actor, "protocols:draft:approve", draft,
           version=installed.version.version_label)
    return installed


def refuse(session: Session, actor: Any, draft_id: int, reason: str) -> ProtocolDraft:
    """Send a submitted draft back, with why (a second person, as for approval)."""
    draft = get_draft(session, draft_id)
    _checker(draft, actor)
    if not reason.strip():
        raise DraftError("say why the draft is refused")
    _decide(session, actor, draft, DraftStatus.REFUSED, reason)
    session.flush()
    record(session, actor, "protocols:draft:refuse", draft)
    return draft


def reopen(session: Session, actor: Any, draft_id: int) -> ProtocolDraft:
    """Edit a refused draft again (it keeps its author and its text)."""
    draft = get_draft(session, draft_id)
    if draft.status != DraftStatus.REFUSED:
        raise Conflict("only a refused draft can be edited again")
    _kind, _id, label = actor_fields(actor)
    draft.status = DraftStatus.EDITING
    draft.revision += 1
    draft.updated_by_label = label
    draft.updated_at = clock.now()
    session.flush()
    record(session, actor, "protocols:draft:reopen", draft)
    return draft


def versions(session: Session, protocol_key: str) -> list[ProtocolVersion]:
    """Every installed version of a protocol, newest first."""
    return list(session.scalars(
        select(ProtocolVersion).where(ProtocolVersion.protocol_key == protocol_key)
        .order_by(ProtocolVersion.installed_at.desc(), ProtocolVersion.id.desc())
    ))
