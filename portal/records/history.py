"""The history of a submission: who changed what, when and why; values only when allowed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.meddra.services import level_of as meddra_level
from portal.meddra.services import term_names
from portal.records.models import Submission
from portal.records.policy import View, view_for
from portal.records.submissions import (
    flatten,
    identifying_keys,
    open_revision,
    submission_form,
)


@dataclass(frozen=True)
class Change:
    """One field whose value changed between two revisions."""

    path: str
    key: str
    label: str
    before: Any
    after: Any
    hidden: bool


@dataclass(frozen=True)
class HistoryEntry:
    """One revision as the history shows it: who, when, why, what changed."""

    number: int
    kind: str
    reason: str | None
    request_ref: str | None
    author_label: str
    at: datetime
    notice_version: str | None
    changes: list[Change] = field(default_factory=list)


def history(session: Session, actor: Any, submission: Submission,
            view: View | None = None) -> list[HistoryEntry]:
    """Return the revisions with who changed what, when and why (values only when allowed)."""
    view = view or view_for(session, actor)
    ref = submission_form(submission)
    hidden = identifying_keys(ref) if not view.shows_identity else frozenset()
    fields = {fld.key: fld for _si, _fi, _s, fld in ref.definition.iter_fields()}
    from portal.protocols.builder import current_locale
    from portal.records.display import choice_labels, value_text

    locale = current_locale()
    definition = ref.protocol.definition

    names = term_names(locale, session)

    def shown(key: str, value: Any) -> Any:
        fld = fields.get(key)
        if fld is None or value is None:
            return value
        level = meddra_level(fld)
        if level is not None:
            # `code — term` from the laboratory's release, as the submission page shows it.
            return names.describe(value, level)
        return value_text(fld, value, choice_labels(fld, definition, locale))
    entries: list[HistoryEntry] = []
    previous: dict[str, tuple[str, Any]] = {}
    for revision in submission.revisions:
        if revision.kind == "draft":
            continue
        answers = flatten(open_revision(session, actor, submission, revision))
        changes = []
        if revision.kind == "rectification":
            for path in sorted(previous.keys() | answers.keys()):
                key, before = previous.get(path, (None, None))
                key2, after = answers.get(path, (None, None))
                if before == after:
                    continue
                field_key = key or key2 or path
                fld = fields.get(field_key)
                is_hidden = field_key in hidden
                changes.append(Change(
                    path=path, key=field_key,
                    label=fld.label.get(locale) if fld else field_key,
                    before=None if is_hidden else shown(field_key, before),
                    after=None if is_hidden else shown(field_key, after),
                    hidden=is_hidden,
                ))
        entries.append(HistoryEntry(revision.number, revision.kind, revision.reason,
                                    revision.request_ref, revision.author_label,
                                    revision.created_at, revision.notice_version, changes))
        previous = answers
    return entries

