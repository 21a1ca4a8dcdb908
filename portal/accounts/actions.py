"""Audit action names of the accounts area (SEC-JOU-1b: every authentication event)."""

from __future__ import annotations

from enum import StrEnum


class AccountAction(StrEnum):
    """`accounts:<subject>:<action>` names written to the audit trail."""

    #: password checked, second factor pending
    PASSWORD_VERIFIED = "accounts:login:password_verified"  # noqa: S105 - an action name
    #: both factors passed: a session starts
    LOGIN_SUCCESS = "accounts:login:success"
    #: wrong password, unknown login, disabled account or locked login (details.reason)
    LOGIN_FAILURE = "accounts:login:failure"
    #: a failure locked the login (details.minutes)
    LOGIN_LOCKED = "accounts:login:locked"
    #: a login through the identity federation (details.acr, details.profession)
    LOGIN_FEDERATED = "accounts:login:federated"
    #: a federated login refused (details.reason: state, signature, audience, acr, no_account...)
    LOGIN_FEDERATED_REFUSED = "accounts:login:federated_refused"
    #: an account linked to its federated subject (details.after: local_login, federated_login)
    FEDERATION_LINK = "accounts:login:federation_link"
    #: a federated identity matched an account with a password: a local login must link it
    FEDERATION_LINK_PENDING = "accounts:login:federation_link_pending"
    LOGOUT = "accounts:session:logout"
    TOTP_FAILURE = "accounts:totp:failure"
    TOTP_REPLAY = "accounts:totp:replay"
    #: too many second-factor attempts: the pending login is dropped
    TOTP_LIMITED = "accounts:totp:rate_limited"
    TOTP_ENROL = "accounts:totp:enrol"
    RECOVERY_USE = "accounts:recovery_code:use"
    RECOVERY_FAILURE = "accounts:recovery_code:failure"
    RECOVERY_REGENERATE = "accounts:recovery_code:regenerate"
    PASSWORD_CHANGE = "accounts:password:change"  # noqa: S105 - an action name
    #: a password chosen through an activation or reset link
    PASSWORD_RESET = "accounts:password:reset"  # noqa: S105 - an action name
    PASSWORD_CHANGE_FORCED = "accounts:password:force_change"  # noqa: S105 - an action name
    TOKEN_REFUSED = "accounts:token:refused"  # noqa: S105 - an action name
    USER_CREATE = "accounts:user:create"
    USER_DISABLE = "accounts:user:disable"
    #: an administrator issued a new activation link (details.second_factor_reset)
    USER_RESET = "accounts:user:reset"
    USER_UNLOCK = "accounts:user:unlock"
    PERMISSION_DENIED = "accounts:permission:denied"
