"""Why data leaves the portal (referential 5.3, 5.4, 10.7): the closed list every export states.

Kept outside any area because the records exports, the reports and the audit rules all name
these purposes; none of them may invent another.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.db import app_of


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


# --- research: the formalities that cover a reuse (referential 5.4) ------------------------------


@dataclass(frozen=True)
class ResearchCover:
    """A research formality in force for one protocol: what a research export may hold.

    The registers area keeps the formalities (the DPO records them); the records exports only
    ask, through `research_covers`, which ones are in force for a protocol now.
    """

    #: the register's reference (RS1), named on the export and in its audit entry
    reference: str
    #: the formality's own reference (a CNIL decision, a declaration of conformity to MR-004)
    formality: str
    protocol_key: str
    #: "form.field" keys: the only answers a research export under this formality holds
    fields: frozenset[str]
    #: the published notice that informs the persons of the reuse ("website-v3")
    notice: str


#: returns the formalities in force now for a protocol (none while no register is installed)
ResearchSource = Callable[[Session, str], list[ResearchCover]]

_RESEARCH_SOURCE = "portal.research_source"


def use_research_register(app: Flask, source: ResearchSource) -> None:
    """Make `source` the register every research export is checked against."""
    app.extensions[_RESEARCH_SOURCE] = source


def research_covers(session: Session, protocol_key: str) -> list[ResearchCover]:
    """Return the research formalities in force now for `protocol_key` (each with its notice
    still published); none when no register is installed: research stays refused."""
    source = app_of(session).extensions.get(_RESEARCH_SOURCE)
    return list(source(session, protocol_key)) if source is not None else []
