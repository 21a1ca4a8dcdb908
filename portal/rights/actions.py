"""Audit action names of the rights area: `rights:<subject>:<action>`."""

from __future__ import annotations

import enum


class RightsAction(enum.StrEnum):
    """Every logged action of the rights area."""

    #: a professional submitted a request through the portal
    REQUEST_SUBMIT = "rights:request:submit"
    #: someone without an account sent a request through the public form
    REQUEST_PUBLIC = "rights:request:public"
    #: the DPO recorded a request that arrived by e-mail or post
    REQUEST_RECORD = "rights:request:record"
    #: a state transition (the details carry from, to and the reason code)
    REQUEST_TRANSITION = "rights:request:transition"
    #: the DPO matched a request under manual review to a patient and cleared it
    REVIEW_CLEAR = "rights:review:clear"
    #: the DPO recorded the extension notice (with its reason)
    REQUEST_EXTEND = "rights:request:extend"
    #: the patient's trusted person (L. 1111-6 CSP) was named on a request (sealed; the
    #: details say only whether the patient asked that this person receive the answer)
    TRUSTED_PERSON_RECORD = "rights:trusted_person:record"
    #: the DPO recorded that a relative's answer reveals nothing under medical secrecy
    SECRECY_CHECK = "rights:secrecy:check"
    #: the access answer was assembled (health data decrypted and sealed into the answer)
    ANSWER_ASSEMBLE = "rights:answer:assemble"
    #: an access answer was shown or downloaded (a disclosure)
    ANSWER_DISCLOSE = "rights:answer:disclose"
    #: a refusal letter was issued
    REFUSAL_ISSUE = "rights:refusal:issue"
    #: a rectification version was linked to the request
    RECTIFICATION_LINK = "rights:rectification:link"
    #: the patient's records were limited because of the request
    LIMITATION_APPLY = "rights:limitation:apply"
    #: the requester was told the limitation is about to be lifted
    LIMITATION_NOTIFY = "rights:limitation:notify"
    #: the limitation was lifted after the checks
    LIMITATION_LIFT = "rights:limitation:lift"
    #: requests past their retention period were deleted
    REQUEST_PURGE = "rights:request:purge"
    #: a notification mail (without health data) was sent to the requester
    NOTICE_MAIL = "rights:notice:mail"
    #: the daily deadline reminder was mailed to a DPO
    REMINDER_MAIL = "rights:reminder:mail"
