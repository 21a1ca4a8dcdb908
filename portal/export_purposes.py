"""Why data leaves the portal (referential 5.3, 5.4, 10.7): the closed list every export states.

Kept outside any area because the records exports, the reports and the audit rules all name
these purposes; none of them may invent another.
"""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l


class ExportPurpose(enum.StrEnum):
    SUMMARY_REPORT = "summary_report"
    PHARMACOVIGILANCE = "pharmacovigilance"
    AUTHORITY_REQUEST = "authority_request"
    DATA_QUALITY = "data_quality"
    #: a distinct processing: needs a formality in force and its published notice
    RESEARCH = "research"


#: the detail under which audit entries of exports carry their purpose
PURPOSE_DETAIL = "purpose"

PURPOSE_LABELS = {
    ExportPurpose.SUMMARY_REPORT: _l("Summary report"),
    ExportPurpose.PHARMACOVIGILANCE: _l("Pharmacovigilance hand-off"),
    ExportPurpose.AUTHORITY_REQUEST: _l("Request from an authority"),
    ExportPurpose.DATA_QUALITY: _l("Data quality"),
    ExportPurpose.RESEARCH: _l("Research (reuse of the data)"),
}

#: the purposes the anomaly checks do not flag: the AAC's own follow-up
USUAL_PURPOSES = frozenset({ExportPurpose.SUMMARY_REPORT, ExportPurpose.PHARMACOVIGILANCE,
                            ExportPurpose.DATA_QUALITY})


def purpose_of(value: object) -> ExportPurpose | None:
    """The purpose named by `value`, or None when it names none of the list."""
    try:
        return ExportPurpose(str(value))
    except ValueError:
        return None
