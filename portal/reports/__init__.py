"""Periodic summary reports of a protocol (PUT-10 to PUT-13): calendar, dataset, outputs.

Public face: `final_resume_approval_date(session, protocol_key)` gives the day ANSM approved
the résumé of a protocol's final report (the retention trigger), None until then.
"""

from __future__ import annotations

from flask import Flask

from portal.reports.calendar import final_resume_approval_date, reports_of

__all__ = ["final_resume_approval_date", "init_app", "reports_of"]


def init_app(app: Flask) -> None:
    """Put the report tables on the metadata."""
    from portal.reports import models  # noqa: F401 - tables on the metadata
