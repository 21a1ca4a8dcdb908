"""The access answer (GDPR art. 15) and the refusal letters.

The access answer is assembled once, when the DPO answers: every item of art. 15(1)(a)-(h),
art. 15(2) on transfers, and a copy of the data, decrypted. It is stored sealed (it holds
health data), in the recipient's language, and shown or downloaded only through `disclose`,
which logs every disclosure. Its SHA-256 is kept in clear, to prove later what was sent.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.services import record
from portal.db import app_of
from portal.errors import Conflict, NotFound
from portal.rights import links
from portal.rights.actions import RightsAction
from portal.rights.labels import (
    COMPLAINT,
    KIND_LABELS,
    NOT_APPLICABLE_INTRO,
    NOT_APPLICABLE_WHY,
    REFUSAL_LABELS,
    REQUESTER_LABELS,
)
from portal.rights.models import (
    RefusalReason,
    RequesterType,
    RequestKind,
    RightsAnswer,
    RightsRequest,
)
from portal.sealing import canonical_json, open_with_refresh, rights_answer_aad, ring_of, seal_value

FORMAT = "aac-portal/access-answer/1"

#: the items of art. 15(1) and 15(2): key, article, heading, the notice slots that fill it
ART15_ITEMS: tuple[tuple[str, str, Any, tuple[str, ...]], ...] = (
    ("purposes", "15(1)(a)", _l("Purposes of the processing and legal basis"),
     ("purposes", "legal_bases")),
    ("categories", "15(1)(b)", _l("Categories of personal data concerned"),
     ("data_categories",)),
    ("recipients", "15(1)(c)", _l("Recipients of the data"), ("recipients",)),
    ("retention", "15(1)(d)", _l("How long the data are kept"), ("retention",)),
    ("rights", "15(1)(e)", _l("Rights to rectification, erasure, limitation and objection"),
     ("rights", "rights_not_applicable", "rights_exercise")),
    ("complaint", "15(1)(f)", _l("Right to lodge a complaint with the CNIL"), ("complaint",)),
    ("source", "15(1)(g)", _l("Where the data come from"), ("data_source",)),
    ("automated_decisions", "15(1)(h)", _l("Automated decision-making"),
     ("automated_decisions",)),
    ("transfers", "15(2)", _l("Transfers outside the European Union"),
     ("transfers_outside_eu", "transfers", "transfer_copy")),
)

#: a heading's fallback when the notice leaves it empty: the referential's own terms
FALLBACKS: dict[str, Any] = {
    "complaint": COMPLAINT,
    "automated_decisions": _l("No decision is taken about anyone by automated means alone; "
                              "no profiling is done."),
    "rights": NOT_APPLICABLE_INTRO,
}


def _audience(request: RightsRequest) -> str:
    if request.requester_type == RequesterType.PROFESSIONAL_SELF:
        return "professional"
    if request.requester_type == RequesterType.RELATIVE:
        return "relative"
    return "patient"


def _notice_values(session: Session, audience: str) -> tuple[dict[str, Any], int | None]:
    """Return the slot values of the notice in force for `audience`, and its version number.

    Before any notice is published, the wording a first draft starts from (the referential's
    terms) stands in; the answer says so.
    """
    from portal.notices.defaults import initial_slots
    from portal.notices.services import current_published

    published = current_published(session, audience)
    if published is not None:
        return dict(published.slots), published.number
    return initial_slots(app_of(session), audience, session), None  # type: ignore[arg-type]


def _slot_text(key: str, value: Any, lang: str) -> str:
    from portal.notices.rendering import slot_display

    return slot_display(key, value, lang).strip()


def _information(session: Session, request: RightsRequest, lang: str,
                 sources: list[str]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    audience = _audience(request)
    values, version = _notice_values(session, audience)
    items = []
    for key, article, heading, slots in ART15_ITEMS:
        if key == "transfers":
            text = _transfers_text(values, lang)
        else:
            parts = [_slot_text(slot, values.get(slot), lang) for slot in slots
                     if slot in values]
            text = "\n\n".join(part for part in parts if part)
        if key == "source" and sources:
            entered = str(_l("The data were entered in the portal by: %(who)s.",
                             who="; ".join(sources)))
            text = f"{text}\n\n{entered}" if text else entered
        if key == "source" and not text:
            text = str(_l("The data come from you, through the portal account you use."))
        if not text and key in FALLBACKS:
            text = str(FALLBACKS[key])
        items.append({"key": key, "article": article, "heading": str(heading), "text": text})
    controller = {
        "name": _slot_text("controller_name", values.get("controller_name"), lang)
        or str(app_of(session).config["CONTROLLER_NAME"]),
        "address": _slot_text("controller_address", values.get("controller_address"), lang),
        "dpo_contact": _slot_text("dpo_contact", values.get("dpo_contact"), lang),
        "eu_representative": _slot_text("eu_representative", values.get("eu_representative"),
                                        lang),
    }
    return items, {"controller": controller,
                   "notice": {"audience": audience, "version": version}}


def _transfers_text(values: dict[str, Any], lang: str) -> str:
    """Art. 15(2): the transfers and their safeguards, only when the notice declares some."""
    declared = values.get("transfers_outside_eu")
    if declared == "listed":
        parts = [_slot_text("transfers", values.get("transfers"), lang),
                 _slot_text("transfer_copy", values.get("transfer_copy"), lang)]
        return "\n\n".join(part for part in parts if part)
    if declared == "none":
        return str(_l("The data are not transferred outside the European Union."))
    return str(_l("The information notice declares no transfer outside the European Union."))


def _language(session: Session, request: RightsRequest) -> str:
    from portal.rights.notify import recipient_of

    recipient = recipient_of(session, request)
    app = app_of(session)
    return (recipient.locale if recipient and recipient.locale else
            app.config["BABEL_DEFAULT_LOCALE"])


def _form_kinds(request: RightsRequest) -> frozenset[str] | None:
    """A relative gets only the forms about a related person's exposure (section 11.5)."""
    if request.requester_type == RequesterType.RELATIVE:
        from portal.protocols.schema import EXPOSURE_FORM_KINDS

        return frozenset(str(kind) for kind in EXPOSURE_FORM_KINDS)
    return None


def build_document(session: Session, actor: Any, request: RightsRequest,
                   at: datetime) -> dict[str, Any]:
    """Assemble the access answer: art. 15 items and the copy of the data (decrypted)."""
    lang = _language(session, request)

    def build() -> dict[str, Any]:
        with force_locale(lang):
            if request.requester_type == RequesterType.PROFESSIONAL_SELF:
                copy = links.professional_copy(session, request.subject_user_id)
                confirmation = str(_l("The laboratory processes personal data about you, "
                                      "as a healthcare professional using the portal."))
            else:
                copy = links.patient_copy(session, actor, request.patient_id, lang,
                                          _form_kinds(request))
                confirmation = str(_l(
                    "The laboratory processes personal data about the patient of case "
                    "%(case)s, followed under a compassionate access authorization.",
                    case=copy["case"]["case_number"]))
            information, context = _information(session, request, lang, copy.get("sources", []))
            return {
                "format": FORMAT,
                "language": lang,
                "issued_at": at.isoformat(timespec="seconds"),
                "request": {
                    "number": request.number,
                    "right": request.kind,
                    "right_label": str(KIND_LABELS[RequestKind(request.kind)]),
                    "requester": str(REQUESTER_LABELS[RequesterType(request.requester_type)]),
                    "received_on": request.received_at.date().isoformat(),
                },
                **context,
                "confirmation": confirmation,
                "information": information,
                "copy": copy,
                "free_of_charge": str(_l("This first copy is free of charge.")),
            }

    if has_app_context() and current_app._get_current_object() is app_of(session):  # type: ignore[attr-defined]
        return build()
    with app_of(session).app_context():
        return build()


def _aad(answer: RightsAnswer) -> bytes:
    return rights_answer_aad(answer.handle, answer.request_id)


def assemble(session: Session, actor: Any, request: RightsRequest) -> RightsAnswer:
    """Build, seal and store the access answer of a request; log the decryption it needed.

    :raises Conflict: when the request already has an answer.
    """
    if request.answer is not None:
        raise Conflict(str(_l("This request already has its answer.")))
    now = clock.now()
    document = build_document(session, actor, request, now)
    answer = RightsAnswer(request_id=request.id, handle=secrets.token_urlsafe(16),
                          created_by_id=getattr(actor, "id", None), created_at=now)
    sealed = seal_value(ring_of(session), _aad(answer), document)
    answer.payload, answer.wrapped_key, answer.kek_version = (
        sealed.payload, sealed.wrapped_key, sealed.kek_version)
    answer.digest = hashlib.sha256(canonical_json(document)).hexdigest()
    session.add(answer)
    request.answer = answer
    session.flush()
    record(session, actor, RightsAction.ANSWER_ASSEMBLE, request,
           items=len(document["information"]),
           submissions=len(document["copy"].get("submissions", [])))
    return answer


def open_answer(session: Session, answer: RightsAnswer) -> dict[str, Any]:
    """Decrypt a stored answer (no logging: callers go through `disclose`)."""
    return open_with_refresh(session, _aad(answer), answer.payload, answer.wrapped_key,
                             answer.kek_version)


def may_receive(session: Session, viewer: Any, request: RightsRequest) -> bool:
    """Tell whether the answer may go to this person (other than the DPO).

    A professional's own data go to them. A patient's data go to the professional who asked
    while the patient stays one they follow (perimeter and grants decide now, as for any
    read), or, when the DPO linked the case, to the requester or physician named, once the
    DPO has confirmed both the identity and the relation to the case.
    """
    viewer_id = getattr(viewer, "id", None)
    if viewer_id is None:
        return False
    if request.requester_type == RequesterType.PROFESSIONAL_SELF:
        return viewer_id == request.subject_user_id
    if request.manual_review:
        return (request.relation_confirmed_at is not None
                and request.identity_confirmed_at is not None
                and viewer_id in {request.submitted_by_id, request.via_professional_id})
    return viewer_id == request.submitted_by_id and links.follows(session, viewer,
                                                                  request.patient_id)


def disclose(session: Session, viewer: Any, request: RightsRequest, *, fmt: str,
             handling: bool = False) -> dict[str, Any]:
    """Return the access answer to the DPO or to its recipient; log the disclosure.

    :raises NotFound: when the request has no answer, or the viewer may not receive it.
    """
    answer = request.answer
    if answer is None or not (handling or may_receive(session, viewer, request)):
        raise NotFound()
    document = open_answer(session, answer)
    if answer.first_disclosed_at is None and getattr(viewer, "id", None) in {
        request.submitted_by_id, request.via_professional_id, request.subject_user_id,
    }:
        answer.first_disclosed_at = clock.now()
    session.flush()
    record(session, viewer, RightsAction.ANSWER_DISCLOSE, request, format=fmt,
           digest=answer.digest[:16])
    return document


def refusal_letter(session: Session, request: RightsRequest) -> dict[str, Any]:
    """Return the content of the refusal letter: reason, legal basis, complaint, remedy."""
    reason = RefusalReason(request.refusal_reason or "")
    values, _version = _notice_values(session, _audience(request))
    lang = "en" if _current_lang() == "en" else "fr"
    complaint = _slot_text("complaint", values.get("complaint"), lang)
    return {
        "reason": reason.value,
        "reason_label": REFUSAL_LABELS[reason],
        "kind_label": KIND_LABELS[RequestKind(request.kind)],
        "why": NOT_APPLICABLE_WHY.get(RequestKind(request.kind)),
        "intro": NOT_APPLICABLE_INTRO,
        "complaint": complaint,
        "complaint_default": COMPLAINT,
        "controller": _slot_text("controller_name", values.get("controller_name"), lang)
        or str(app_of(session).config["CONTROLLER_NAME"]),
        "dpo_contact": _slot_text("dpo_contact", values.get("dpo_contact"), lang),
    }


def _current_lang() -> str:
    from flask_babel import get_locale

    locale = get_locale() if has_app_context() else None
    return locale.language if locale else "fr"

