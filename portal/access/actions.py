"""Audit action names of the access area (`access:<subject>:<action>`)."""

from __future__ import annotations

import enum


class AccessAction(enum.StrEnum):
    """Every change the access area writes to the audit trail."""

    ESTABLISHMENT_CREATE = "access:establishment:create"
    MEMBER_ADD = "access:member:add"
    MEMBER_REMOVE = "access:member:remove"
    GRANT_REQUEST = "access:grant:request"
    GRANT_APPROVE = "access:grant:approve"
    GRANT_WITHDRAW = "access:grant:withdraw"
    GRANT_SUSPEND = "access:grant:suspend"
    GRANT_REINSTATE = "access:grant:reinstate"
    GRANT_EXPIRE = "access:grant:expire"
    GRANT_REVIEW = "access:grant:review"
    #: an account unused for the configured number of days (then disabled by the accounts area)
    ACCOUNT_INACTIVE = "access:account:inactive"
    REVIEW_EXPORT = "access:review:export"
