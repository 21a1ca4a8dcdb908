"""Audit action names of the audit area, and the naming conventions the checks rely on.

Every area names its actions `<area>:<subject>:<action>` in its own StrEnum. The automatic
checks (portal/audit/checks.py) recognise some entries by these conventions; the areas that
write such entries must follow them:

- a read of a patient record is `records:patient:read` with target ("patient", <patient ref>);
  a read of a submission is `records:submission:read` with target ("submission", <ref>) and the
  detail `patient=<patient ref>`. Any action ending in `:read` on a target of type "patient" or
  "submission" counts as a read of that patient.
- an export ends in `:export` (e.g. `records:patients:export`) and carries the detail
  `row_count=<number of rows exported>`.
- an export of patient data (a records export, a report generated or downloaded) is one of
  `DATA_EXPORT_ACTIONS` and carries the detail `purpose=<one of portal.export_purposes>`; one
  without a purpose of the list, or for research or an authority, is for the DPO to look at.
- a read of the intermediate archive ends in `:archive:read` and carries the details
  `reason=<why>` and `reason_ref=<the request or file it answers>` (an archive is consulted
  occasionally, for a stated reason); one without them is an anomaly.
- failed authentications are the actions of `FAILED_AUTH_ACTIONS`, with target ("user", U<id>)
  when the login is known, and no target otherwise.
- the actions of `GRANT_FREE_PREFIXES` (logging in, one's own password and second factor,
  reading the notices) are allowed without a valid access grant; every other successful action
  of a person must happen while they hold a valid grant.
"""

from __future__ import annotations

import enum


class AuditAction(enum.StrEnum):
    """Every logged action of the audit area."""

    #: someone consulted the trail in the portal (the details carry the filters)
    EVENTS_READ = "audit:events:read"
    #: someone downloaded the trail as CSV (row_count in the details)
    EVENTS_EXPORT = "audit:events:export"
    #: someone consulted the alerts of the automatic checks
    ALERTS_READ = "audit:alerts:read"
    #: `portal audit verify` walked the chain (outcome failure when it is broken)
    CHAIN_VERIFY = "audit:chain:verify"
    #: `portal audit head` exported the chain head
    HEAD_EXPORT = "audit:head:export"
    #: old entries were deleted after a checkpoint was written
    TRAIL_PURGE = "audit:trail:purge"
    #: the automatic checks ran
    CHECK_RUN = "audit:check:run"
    #: a check raised a new alert
    ALERT_RAISE = "audit:alert:raise"


#: reads of a patient's data: actions ending in this suffix...
READ_SUFFIX = ":read"
#: ...on targets of these types
PATIENT_TARGET_TYPES = ("patient", "submission")
#: the detail naming the patient of a submission read
PATIENT_DETAIL = "patient"
#: the canonical read actions of the records area
PATIENT_READ_ACTION = "records:patient:read"
SUBMISSION_READ_ACTION = "records:submission:read"

#: exports: actions ending in this suffix, with a `row_count` detail
EXPORT_SUFFIX = ":export"
ROW_COUNT_DETAIL = "row_count"

#: exports of patient data, each stating its purpose (portal/export_purposes.py)
DATA_EXPORT_ACTIONS = (
    "records:data:export",
    "reports:report:generate",
    "reports:report:download",
)

#: reads of the intermediate archive: actions ending in this suffix, with these details
ARCHIVE_READ_SUFFIX = ":archive:read"
ARCHIVE_REASON_DETAILS = ("reason", "reason_ref")

#: failed authentications counted by the burst rule (portal/accounts/actions.py); a lock
#: (accounts:login:locked) follows a failure already counted, so it is not counted again
FAILED_AUTH_ACTIONS = (
    "accounts:login:failure",
    "accounts:totp:failure",
    "accounts:totp:replay",
    "accounts:recovery_code:failure",
)

#: actions a person may do without a valid access grant: logging in and out, their own
#: password, second factor and activation link, and reading or acknowledging the notices
GRANT_FREE_PREFIXES = (
    "accounts:login:",
    "accounts:session:",
    "accounts:password:",
    "accounts:totp:",
    "accounts:recovery_code:",
    "accounts:token:",
    "notices:",
)
