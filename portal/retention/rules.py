"""The retention rules as pure date arithmetic: what is due for one case on one day.

No database here: `plan_case` takes the case's evidence and returns what the rules say, so the
plan, the run and the DPO's page compute the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from portal.retention.dates import add_years
from portal.retention.models import PERIOD_KINDS, TERMINATION_KINDS, CaseState, Rule


@dataclass(frozen=True)
class Evidence:
    """A dated fact with the document it comes from."""

    day: date
    reference: str


@dataclass(frozen=True)
class AacDecision:
    kind: str
    decision_date: date
    end_date: date | None
    evidence_reference: str


@dataclass(frozen=True)
class Termination:
    """When the case's AAC ended: suspension, withdrawal, or its end date without renewal."""

    day: date
    kind: str  # suspended | withdrawn | expired
    reference: str


def termination(decisions: list[AacDecision], on: date) -> Termination | None:
    """Return the AAC's termination as known on `on`, or None while it runs (or is unknown).

    A suspension or withdrawal counts when it is not older than the latest grant or renewal (a
    renewal after a suspension starts a new period); without one, the AAC ends at the latest
    period's end date once that day has passed.
    """
    periods = [d for d in decisions if d.kind in PERIOD_KINDS and d.end_date is not None]
    if not periods:
        return None
    latest = max(periods, key=lambda d: (d.decision_date, d.end_date))
    last_end = max(periods, key=lambda d: d.end_date)  # type: ignore[arg-type, return-value]
    stops = sorted((d for d in decisions if d.kind in TERMINATION_KINDS
                    and d.decision_date >= latest.decision_date and d.decision_date <= on),
                   key=lambda d: d.decision_date)
    if stops:
        return Termination(stops[0].decision_date, stops[0].kind, stops[0].evidence_reference)
    assert last_end.end_date is not None
    if last_end.end_date < on:
        return Termination(last_end.end_date, "expired", last_end.evidence_reference)
    return None


@dataclass(frozen=True)
class Decision:
    """What the rules say for one case on one day."""

    #: archive | purge | hold (purge due, held) | none | missing (no evidence)
    action: str
    rule: str | None = None
    archive_due: date | None = None
    purge_due: date | None = None
    #: the dated inputs, as short codes for the audit entry
    inputs: dict[str, str] = field(default_factory=dict)
    #: why nothing moves, for the plan
    note: str = ""


def plan_case(state: str, decisions: list[AacDecision], final_approval: Evidence | None,
              on_hold: bool, on: date, *, active_years: int, archive_years: int) -> Decision:
    """Apply T1 and T2 to one case on day `on`."""
    if not decisions:
        return Decision("missing", note="no dated AAC decision with its evidence")
    ended = termination(decisions, on)
    if ended is None:
        return Decision("none", note="AAC in progress")
    inputs = {"aac_end": ended.day.isoformat(), "aac_end_kind": ended.kind,
              "aac_end_ref": ended.reference}
    if final_approval is not None:
        archive_due = add_years(final_approval.day, active_years)
        t1_rule = Rule.T1_FINAL_RESUME.value
        inputs["final_resume"] = final_approval.day.isoformat()
        inputs["final_resume_ref"] = final_approval.reference
    else:
        archive_due = add_years(ended.day, active_years)
        t1_rule = Rule.T1_NO_REPORT.value
    purge_due = add_years(ended.day, archive_years)
    dates = {"archive_due": archive_due, "purge_due": purge_due, "inputs": inputs}
    if on >= purge_due:
        if on_hold:
            if state == CaseState.ACTIVE.value and on >= archive_due:
                return Decision("archive", t1_rule, **dates)  # type: ignore[arg-type]
            return Decision("hold", Rule.T2_ARCHIVE_END.value, note="legal hold open",
                            **dates)  # type: ignore[arg-type]
        return Decision("purge", Rule.T2_ARCHIVE_END.value, **dates)  # type: ignore[arg-type]
    if state == CaseState.ACTIVE.value and on >= archive_due:
        return Decision("archive", t1_rule, **dates)  # type: ignore[arg-type]
    return Decision("none", note="not due", **dates)  # type: ignore[arg-type]
