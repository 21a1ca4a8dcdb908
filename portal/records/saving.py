"""Saving a posted protocol form: draft, submit or rectify, in one call that owns the transaction.

`save` is what a form page's POST does: it finds a resent request by its idempotency token,
refuses typed NIR/INS, validates, asks for a visit outside its window to be confirmed, writes
under the single records writer and commits; when a concurrent request wrote first it rolls
back and tells a resent form (the same token: saved) from a second editor (a conflict, with the
answers now stored). It returns what the page shows: `Saved`, `Invalid` or `Conflicted`.

Unlike the other records services, `save` commits (or rolls back): recovering from a lost race
needs both, and the single writer's lock is held until the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from portal.audit.services import record
from portal.protocols.builder import plain_form_class
from portal.records import display, overview, submissions
from portal.records.actions import RecordsAction
from portal.records.clinic_time import clinical_today
from portal.records.form_codes import form_code
from portal.records.models import Patient, Submission
from portal.records.policy import view_for
from portal.records.refusals import FieldError, IdentifierRefused, refuse_identifiers
from portal.records.writes import one_writer


@dataclass(frozen=True)
class Saved:
    """Stored (or stored already by the same request sent before: `resent`)."""

    submission: Submission
    message: str
    resent: bool = False


@dataclass(frozen=True)
class Invalid:
    """Nothing stored: the page shows the input again with what to correct (422)."""

    #: the protocol form, validated, when the answers were checked (its own errors shown)
    form: Any = None
    #: input name (None: the form) → messages, when the input is shown raw
    errors: dict[str | None, list[str]] = field(default_factory=dict)
    #: the rectification reason's message, shown under the reason
    reason_error: str | None = None
    #: a visit outside its window, to be confirmed
    window: overview.WindowDeviation | None = None
    #: the page needs a new idempotency token (the refusal was logged under the old one)
    fresh_token: bool = False


@dataclass(frozen=True)
class Conflicted:
    """Someone else changed the form first: their version and its answers, to compare (409)."""

    current: Submission
    #: the current answers as sections (empty for a draft)
    shown: list[Any]


Outcome = Saved | Invalid | Conflicted


@dataclass(frozen=True)
class Posted:
    """A form page's POST, as typed: the answers' inputs and the page's controls."""

    #: input name → values, every answer input of the page (controls left out)
    texts: dict[str, list[str]]
    token: str
    #: "draft" to save a draft, anything else to submit (or rectify)
    action: str | None
    #: the submission version the page showed (None: a new form)
    expected_version: int | None
    #: the visit-window confirmation the page carried, if any
    confirm_window: str | None = None
    #: rectification: the reason chosen, and whether its own field accepted it
    reason: str | None = None
    reason_valid: bool = True
    #: the confirmation of unusual values (warning checks) the page carried, if any
    confirm_warnings: str | None = None


def save(session: Session, actor: Any, patient: Patient, ref: submissions.FormRef,
         posted: Posted, *, draft: Submission | None = None,
         submitted: Submission | None = None, parent: Submission | None = None) -> Outcome:
    """Save a posted form page: a new form, a draft resumed, or a rectification.

    :param draft: the draft the page resumed; `submitted`: the form the page rectifies.
    :raises Forbidden: the actor may not write this form (checked by the services).
    """
    done = submissions.by_token(session, posted.token)
    if done is not None:
        session.commit()
        return _resent(done)
    texts = posted.texts
    try:
        refuse_identifiers(session, actor, texts, context=f"form:{ref.definition.key}")
    except IdentifierRefused as exc:
        session.commit()
        return Invalid(errors={exc.field: [exc.message or ""]}, fresh_token=True)
    target = submitted or draft
    try:
        if posted.action == "draft" and submitted is None:
            saved = submissions.save_draft(
                session, actor, patient, ref, submissions.draft_texts(ref, texts),
                posted.token, draft=draft, expected_version=posted.expected_version,
                parent=parent)
            session.commit()
            return Saved(saved, _("Draft saved. You can come back to it from the patient's "
                                  "page."))
        # The plain form: the app-wide CSRF protection already checked this POST.
        form = plain_form_class(ref.protocol, ref.definition.key)(formdata=_multidict(texts))
        valid = form.validate(today=clinical_today(session))
        if not valid or not posted.reason_valid:
            session.commit()
            return Invalid(form=form)
        answers = form.answers()
        if form.warnings and posted.confirm_warnings != form.warning_token:
            # Unusual values are saved only once the professional confirms them (the
            # confirmation names the checks and the values: changing one asks again).
            session.commit()
            return Invalid(form=form)
        deviation = overview.window_deviation(session, actor, patient, ref, answers)
        if deviation is not None and posted.confirm_window != deviation.token:
            # A visit outside its window is saved only once the professional confirms it
            # (the confirmation names the visit and the date: changing either asks again).
            session.commit()
            return Invalid(form=form, window=deviation)
        with one_writer(session):
            if submitted is not None:
                saved = submissions.rectify(session, actor, submitted, answers,
                                            posted.reason or "", posted.token,
                                            posted.expected_version)
                message = _("Change saved. The previous version is kept in the history.")
            else:
                saved = submissions.submit(session, actor, patient, ref, answers, posted.token,
                                           draft=draft,
                                           expected_version=posted.expected_version,
                                           parent=parent)
                message = _("Form submitted.")
            if deviation is not None:
                overview.record_out_of_window(session, actor, saved, deviation)
            if form.warnings:
                _record_confirmed_checks(session, actor, saved, form.warnings)
            session.commit()
        return Saved(saved, message)
    except (submissions.SubmissionConflict, submissions.AlreadyFilled) as exc:
        # The same form sent twice (a double click) may lose the race to its own twin: then
        # it is a resent form, not a second editor.
        session.rollback()
        done = submissions.by_token(session, posted.token)
        if done is not None:
            session.commit()
            return _resent(done)
        return _conflict(session, actor, patient, ref, exc.submission)
    except FieldError as exc:
        session.commit()
        message = exc.message or ""
        if isinstance(exc, submissions.InvalidDraft):
            errors: dict[str | None, list[str]] = {None: [message]}
            errors.update(exc.errors)
            return Invalid(errors=errors)
        if exc.field == "reason" and submitted is not None:
            return Invalid(errors={None: [message]}, reason_error=message)
        return Invalid(errors={exc.field if exc.field and exc.field != "reason" else None:
                               [message]})
    except (IntegrityError, StaleDataError, OperationalError):
        # A concurrent request wrote first (same token, same single form, or same version).
        session.rollback()
        done = submissions.by_token(session, posted.token)
        if done is not None:
            session.commit()
            return _resent(done)
        current = target or submissions.existing_singleton(session, patient, ref.definition.key)
        if current is None:
            raise
        session.refresh(current)
        return _conflict(session, actor, patient, ref, current)


def _record_confirmed_checks(session: Session, actor: Any, submission: Submission,
                             warnings: list[Any]) -> None:
    """Keep with the submission's revision which unusual values the professional confirmed."""
    keys = sorted({w.check for w in warnings})
    submission.revisions[-1].confirmed_checks = ",".join(keys)[:1000]
    session.flush()
    record(session, actor, RecordsAction.CHECKS_CONFIRMED, submission,
           patient=submission.patient.audit_ref, form=form_code(session, submission.form_key),
           checks=",".join(keys)[:120], count=len(keys))


def _resent(done: Submission) -> Saved:
    return Saved(done, _("This form was already saved."), resent=True)


def _multidict(texts: Mapping[str, list[str]]) -> Any:
    from werkzeug.datastructures import MultiDict

    return MultiDict((name, value) for name, values in texts.items() for value in values)


def _conflict(session: Session, actor: Any, patient: Patient, ref: submissions.FormRef,
              current: Submission) -> Conflicted:
    """Log the conflict and open the answers now stored, for the second editor to compare."""
    session.rollback()
    record(session, actor, RecordsAction.SUBMISSION_CONFLICT, current,
           patient=patient.audit_ref, form=form_code(session, current.form_key),
           version=current.version)
    shown: list[Any] = []
    if not current.is_draft:
        view = view_for(session, actor)
        hidden = submissions.identifying_keys(ref) if not view.shows_identity else frozenset()
        shown = display.shown_answers(ref.protocol.definition, ref.definition,
                                      submissions.read_answers(session, actor, current), hidden)
    session.commit()
    return Conflicted(current, shown)
