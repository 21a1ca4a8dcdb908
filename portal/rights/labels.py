"""What people read for each code of the rights area, and why some rights do not apply."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from portal.rights.models import (
    Channel,
    ExtensionReason,
    RefusalReason,
    RelativeBasis,
    RequesterType,
    RequestKind,
    RequestState,
)

KIND_LABELS: dict[RequestKind, Any] = {
    RequestKind.ACCESS: _l("Access to the data"),
    RequestKind.RECTIFICATION: _l("Rectification of the data"),
    RequestKind.LIMITATION: _l("Limitation of the processing"),
    RequestKind.OPPOSITION: _l("Objection to the processing"),
    RequestKind.ERASURE: _l("Erasure of the data"),
    RequestKind.PORTABILITY: _l("Portability of the data"),
}

REQUESTER_LABELS: dict[RequesterType, Any] = {
    RequesterType.PATIENT_VIA_DOCTOR: _l("Patient, through their doctor"),
    RequesterType.PATIENT_DIRECT: _l("Patient, writing directly"),
    RequesterType.RELATIVE: _l("Relative or partner"),
    RequesterType.LEGAL_REPRESENTATIVE: _l("Legal representative"),
    RequesterType.PROFESSIONAL_SELF: _l("Healthcare professional, about their own data"),
}

CHANNEL_LABELS: dict[Channel, Any] = {
    Channel.PORTAL: _l("Portal"),
    Channel.EMAIL: _l("E-mail"),
    Channel.POST: _l("Letter (post)"),
    Channel.WEB: _l("Public request form"),
}

STATE_LABELS: dict[RequestState, Any] = {
    RequestState.UNVERIFIED: _l("unverified"),
    RequestState.RECEIVED: _l("received"),
    RequestState.IDENTITY_PENDING: _l("identity being confirmed"),
    RequestState.IN_PROGRESS: _l("in progress"),
    RequestState.EXTENDED: _l("extended"),
    RequestState.ANSWERED: _l("answered"),
    RequestState.REFUSED: _l("refused"),
    RequestState.CLOSED: _l("closed"),
}

REFUSAL_LABELS: dict[RefusalReason, Any] = {
    RefusalReason.NOT_APPLICABLE: _l("The right does not apply to this processing"),
    RefusalReason.MEDICAL_SECRECY: _l("Answering would reveal information covered by medical "
                                      "secrecy about the patient"),
    RefusalReason.IDENTITY_UNCONFIRMED: _l("The requester's identity could not be confirmed"),
    RefusalReason.UNFOUNDED_OR_EXCESSIVE: _l("Manifestly unfounded or excessive request"),
    RefusalReason.NO_DATA: _l("No data about the requester is processed"),
}

EXTENSION_LABELS: dict[ExtensionReason, Any] = {
    ExtensionReason.COMPLEXITY: _l("The request is complex"),
    ExtensionReason.NUMBER_OF_REQUESTS: _l("The number of requests received"),
}

RELATIVE_BASIS_LABELS: dict[RelativeBasis, Any] = {
    RelativeBasis.AFFECTED_PERSON: _l("Person affected by the patient's taking of the "
                                      "medicine, about their own data"),
    RelativeBasis.CAUSES_OF_DEATH: _l("After the patient's death: to know the causes of death"),
    RelativeBasis.DEFEND_MEMORY: _l("After the patient's death: to defend their memory"),
    RelativeBasis.ASSERT_RIGHTS: _l("After the patient's death: to assert their own rights"),
}

#: section 11.3, in plain words: why each of the three rights does not apply
NOT_APPLICABLE_WHY: dict[RequestKind, Any] = {
    RequestKind.OPPOSITION: _l(
        "You cannot object to this processing. The laboratory collects these data because the "
        "law requires it to follow every patient treated under a compassionate access "
        "authorization (article L. 5121-12-1 and articles R. 5121-74 and following of the "
        "public health code): the processing rests on a legal obligation (GDPR article 6(1)(c)) "
        "and serves the public interest in public health (GDPR article 9(2)(i)). The right to "
        "object (GDPR article 21) does not cover processing required by law."
    ),
    RequestKind.ERASURE: _l(
        "The data cannot be erased on request while they must be kept: the law requires them "
        "for the monitoring of the medicine (GDPR article 17(3)(b), legal obligation, and "
        "17(3)(c), public interest in public health). They are deleted or made anonymous at "
        "the end of the retention periods set by the CNIL referential (section 9)."
    ),
    RequestKind.PORTABILITY: _l(
        "The right to portability only covers data processed with the person's consent or for "
        "a contract (GDPR article 20(1)); this processing rests on a legal obligation. A copy "
        "of the data can still be obtained through the right of access."
    ),
}

#: the common explanation (section 11.3 of CNIL referential 2022-106)
NOT_APPLICABLE_INTRO = _l(
    "Under section 11.3 of the CNIL referential on compassionate access (deliberation 2022-106), "
    "the rights of objection, erasure and portability do not apply to this processing. The "
    "rights that apply are access, rectification and limitation."
)

#: the CNIL complaint and judicial remedy (art. 12(4), 15(1)(f), 77 and 79)
COMPLAINT = _l(
    "You may lodge a complaint with the CNIL (Commission nationale de l'informatique et des "
    "libertés, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, www.cnil.fr) and seek a "
    "judicial remedy."
)

#: the "why" of a transition in the history
EVENT_REASON_LABELS: dict[str, Any] = {
    "received": _l("Request received"),
    "taken_in_hand": _l("Taken in hand"),
    "confirm_through_physician": _l("Identity to be confirmed through the physician or centre"),
    "confirm_doctor": _l("The doctor's identity to be confirmed (RPPS directory)"),
    "reasonable_doubt": _l("Reasonable doubt about the requester's identity"),
    "identity_confirmed": _l("Identity confirmed"),
    "extension_complexity": _l("Extended: complex request"),
    "extension_number_of_requests": _l("Extended: number of requests"),
    "access_answer_ready": _l("Access answer made available"),
    "rectified": _l("Rectification made"),
    "limitation_applied": _l("Records limited"),
    "closed": _l("Closed"),
    **{reason.value: label for reason, label in REFUSAL_LABELS.items()},
}

#: what a patient writing directly is told before the request is recorded (section 11.4): the
#: public form shows it, requires its box to be ticked, and the receipt and the sealed
#: details of the request keep the text as it was read
CONFIDENTIALITY_TITLE = _l("If you are a patient writing directly: what it means for the "
                           "confidentiality of your data")
CONFIDENTIALITY_PARAGRAPHS = (
    _l("The laboratory holds your data without your name, under a case number known only to "
       "the hospital that treats you. By writing directly, you tell the laboratory that you are "
       "one of the patients treated with this medicine and how to reach you. To find your "
       "case, the laboratory must ask the doctor or hospital you name to confirm who you are: "
       "they will know that you made this request."),
    _l("What you write here is kept encrypted with the request and deleted with it. Your name "
       "is not needed, and a social security number is refused. Going through your doctor "
       "keeps your identity at the hospital only."),
)
#: who writes about the patient's own data without a professional in between
DIRECT_WRITERS = frozenset({RequesterType.PATIENT_DIRECT, RequesterType.LEGAL_REPRESENTATIVE})


def confidentiality_text() -> str:
    """The confidentiality information in the current language, as it is recorded."""
    return "\n\n".join([str(CONFIDENTIALITY_TITLE),
                        *(str(paragraph) for paragraph in CONFIDENTIALITY_PARAGRAPHS)])

#: the grounds of art. 18(1) as a professional's own limitation reads them (the records' codes)
PROFESSIONAL_LIMITATION_LABELS: dict[str, Any] = {
    "accuracy_contested": _l("The professional contests the accuracy of his data: kept as they "
                             "are while it is checked"),
    "unlawful_processing": _l("The professional contests the lawfulness of the processing"),
    "legal_claims": _l("The professional needs his data kept for a legal claim"),
    "verification_pending": _l("A rights request is being verified"),
}
