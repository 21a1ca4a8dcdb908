"""Audit action names of the records area (`records:<subject>:<action>`) and its coded lists."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l


class RecordsAction(enum.StrEnum):
    """Every read and write of the records area that goes to the audit trail.

    The audit area's anomaly rules read `records:patient:read` entries (target type "patient")
    and `records:data:export` entries: keep these names.
    """

    PATIENT_CREATE = "records:patient:create"
    #: a patient page, or any page showing one patient's record
    PATIENT_READ = "records:patient:read"
    #: a list of patients (one entry per list shown, with its row count)
    PATIENT_LIST = "records:patient:list"
    #: registration went on although a probable duplicate was shown
    DUPLICATE_CONFIRM = "records:patient:duplicate_confirm"
    PATIENT_LIMIT = "records:patient:limit"
    PATIENT_LIFT = "records:patient:lift_limitation"
    SUBMISSION_READ = "records:submission:read"
    SUBMISSION_DRAFT = "records:submission:draft"
    SUBMISSION_CREATE = "records:submission:create"
    SUBMISSION_RECTIFY = "records:submission:rectify"
    #: a change refused because someone else changed the submission first
    SUBMISSION_CONFLICT = "records:submission:conflict"
    #: a follow-up dated outside its visit's window, saved after the professional confirmed it
    VISIT_OUT_OF_WINDOW = "records:submission:out_of_window"
    #: unusual values (warning checks of the protocol) saved after the professional confirmed
    CHECKS_CONFIRMED = "records:submission:checks_confirmed"
    DATA_EXPORT = "records:data:export"
    #: many records read for one job (a report, an archive, a purge), through the door
    BULK_READ = "records:data:read"
    #: an adverse-event or pregnancy form handed off to the pharmacovigilance system
    EVENT_HAND_OFF = "records:event:hand_off"
    #: the pharmacovigilance people were mailed that a serious adverse event was recorded
    SERIOUS_EVENT_MAIL = "records:event:serious_mail"
    #: a typed value that looks like a NIR or INS was refused (the value is never logged)
    IDENTIFIER_REFUSE = "records:identifier:refuse"
    #: a sealed record failed authentication (altered, moved, or wrong key)
    INTEGRITY_FAIL = "records:integrity:fail"
    #: the cases' schedule states recomputed from their forms (one entry per run)
    SCHEDULE_REBUILD = "records:schedule:rebuild"
    KEK_ROTATE = "records:kek:rotate"
    KEK_RETIRE = "records:kek:retire"


class RectificationReason(enum.StrEnum):
    """Why a submitted form was changed: a fixed list, never free text."""

    TRANSCRIPTION_ERROR = "transcription_error"
    SOURCE_DOCUMENT = "source_document"
    DATA_QUERY = "data_query"
    LATE_INFORMATION = "late_information"
    PATIENT_REQUEST = "patient_request"


RECTIFICATION_LABELS = {
    RectificationReason.TRANSCRIPTION_ERROR: _l("Transcription error"),
    RectificationReason.SOURCE_DOCUMENT: _l("Source document corrected or completed"),
    RectificationReason.DATA_QUERY: _l("Answer to a data query from the laboratory"),
    RectificationReason.LATE_INFORMATION: _l("Information received after submission"),
    RectificationReason.PATIENT_REQUEST: _l("Rectification requested by the patient"),
}


class LimitationReason(enum.StrEnum):
    """Why a patient's records are limited (GDPR art. 18(1), referential section 11.1)."""

    ACCURACY_CONTESTED = "accuracy_contested"
    UNLAWFUL_PROCESSING = "unlawful_processing"
    LEGAL_CLAIMS = "legal_claims"
    VERIFICATION_PENDING = "verification_pending"


LIMITATION_LABELS = {
    LimitationReason.ACCURACY_CONTESTED: _l(
        "The patient contests the accuracy of the data: frozen while it is checked"),
    LimitationReason.UNLAWFUL_PROCESSING: _l(
        "The patient contests the lawfulness of the processing"),
    LimitationReason.LEGAL_CLAIMS: _l(
        "The patient needs the data kept for a legal claim"),
    LimitationReason.VERIFICATION_PENDING: _l(
        "A rights request is being verified"),
}
