"""Automatic checks of the trail (SEC-JOU-4): anomaly rules whose findings become alerts.

`run_checks` examines the entries written since the previous successful run (re-reading an
overlap before it, so that a burst across two runs is still seen), runs every rule, and stores
each finding as an `AuditAlert`. A finding that overlaps an alert already raised for the same
rule and subject extends that alert instead of raising a second one, so re-running the checks
never duplicates alerts. The date of the last successful run is kept; the referential wants one
at least every two months.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.actions import AuditAction
from portal.audit.models import AuditAlert, AuditCheckRun, AuditEvent
from portal.audit.rules import RULES, CheckContext, Finding, greatest, least
from portal.audit.services import actor_fields, record
from portal.audit.settings import setting
from portal.db import app_of

#: called with (session, alert) for each alert a run raises, in the run's transaction
AlertHook = Callable[[Session, AuditAlert], object]
_HOOKS = "portal.audit.alert_hooks"


def on_new_alert(app: Any, hook: AlertHook) -> None:
    """Have `hook` called for every new alert of the checks (another area's follow-up, e.g.
    the breach register's draft entries), without the audit area knowing that area."""
    app.extensions.setdefault(_HOOKS, []).append(hook)


def announce_alert(session: Session, alert: AuditAlert) -> None:
    """Run the follow-up hooks for an alert raised outside the checks (e.g. a record failing
    its integrity check when it is read), as the checks do for theirs."""
    session.flush()
    for hook in app_of(session).extensions.get(_HOOKS, ()):
        hook(session, alert)


def _store(session: Session, finding: Finding, now: datetime) -> AuditAlert | None:
    """Save a finding as an alert; return it when new, None when it extended an existing one."""
    query = select(AuditAlert).where(AuditAlert.rule == finding.rule,
                                     AuditAlert.subject == finding.subject)
    if not finding.whole_subject and finding.seq_from is not None:
        query = query.where(AuditAlert.seq_from <= finding.seq_to,
                            AuditAlert.seq_to >= finding.seq_from)
    existing = session.scalars(query.order_by(AuditAlert.id).limit(1)).first()
    if existing is not None:
        seq_from = least(existing.seq_from, finding.seq_from)
        seq_to = greatest(existing.seq_to, finding.seq_to)
        if (seq_from, seq_to) != (existing.seq_from, existing.seq_to) or (
                finding.count > existing.count):
            existing.seq_from, existing.seq_to = seq_from, seq_to
            existing.first_at = least(existing.first_at, finding.first_at)
            existing.last_at = greatest(existing.last_at, finding.last_at)
            existing.count = max(existing.count, finding.count)
            existing.updated_at = now
        return None
    alert = AuditAlert(
        rule=finding.rule, subject=finding.subject[:96], raised_at=now,
        seq_from=finding.seq_from, seq_to=finding.seq_to, first_at=finding.first_at,
        last_at=finding.last_at, actor_id=finding.actor_id, actor_label=finding.actor_label,
        target_ref=finding.target_ref, count=finding.count, details=finding.details,
    )
    session.add(alert)
    session.flush()
    return alert


@dataclass
class CheckReport:
    """What one run of the checks did."""

    run: AuditCheckRun
    new_alerts: list[AuditAlert]
    findings: int


def last_successful_run(session: Session) -> AuditCheckRun | None:
    """Return the most recent run that went through every rule."""
    return session.scalars(
        select(AuditCheckRun).where(AuditCheckRun.succeeded.is_(True))
        .order_by(AuditCheckRun.finished_at.desc()).limit(1)
    ).first()


def run_checks(session: Session, actor: Any, rules: Iterable[str] | None = None) -> CheckReport:
    """Run the anomaly rules over the entries since the last run and store the findings.

    :param actor: the CLI operator or job running the checks.
    :param rules: a subset of RULES (default: all of them; only a full run counts as the
        periodic check).
    """
    started = clock.now()
    names = list(RULES) if rules is None else list(rules)
    unknown = set(names) - set(RULES)
    if unknown:
        raise ValueError(f"unknown audit check rules: {', '.join(sorted(unknown))}")
    previous = last_successful_run(session)
    up_to_seq = int(session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)
    ctx = CheckContext(session, up_to_seq)
    if previous is not None:
        ctx.since = previous.checked_until - timedelta(
            hours=int(setting(session, "AUDIT_CHECK_OVERLAP_HOURS")))
        ctx.after_seq = previous.checked_up_to_seq
    findings: list[Finding] = []
    for name in names:
        findings.extend(RULES[name](ctx))
    new_alerts: list[AuditAlert] = []
    for finding in findings:
        alert = _store(session, finding, started)
        if alert is not None:
            new_alerts.append(alert)
            record(session, actor, AuditAction.ALERT_RAISE, alert, rule=alert.rule,
                   seq_from=alert.seq_from, seq_to=alert.seq_to)
            announce_alert(session, alert)
    _kind, _id, label = actor_fields(actor)
    run = AuditCheckRun(
        started_at=started, finished_at=clock.now(), succeeded=rules is None,
        checked_from=ctx.since, checked_until=started, checked_up_to_seq=up_to_seq,
        new_alerts=len(new_alerts), actor_label=label,
    )
    session.add(run)
    session.flush()
    record(session, actor, AuditAction.CHECK_RUN, ("check", f"R{run.id}"),
           new_alerts=len(new_alerts), findings=len(findings), rules=len(names))
    return CheckReport(run, new_alerts, len(findings))


def record_failed_run(session: Session, actor: Any, started: datetime, error: str) -> None:
    """Keep a trace of a run that stopped on an error (it does not count as a check)."""
    _kind, _id, label = actor_fields(actor)
    run = AuditCheckRun(started_at=started, finished_at=clock.now(), succeeded=False,
                        checked_until=started, checked_up_to_seq=0, new_alerts=0,
                        actor_label=label)
    session.add(run)
    session.flush()
    record(session, actor, AuditAction.CHECK_RUN, ("check", f"R{run.id}"), outcome="failure",
           error=error[:120])


@dataclass(frozen=True)
class CheckStatus:
    """When the checks last succeeded and whether that is too long ago."""

    last_success: datetime | None
    max_age_days: int
    now: datetime

    @property
    def overdue(self) -> bool:
        return (self.last_success is None
                or self.now - self.last_success > timedelta(days=self.max_age_days))

    @property
    def age_days(self) -> int | None:
        return None if self.last_success is None else (self.now - self.last_success).days


def check_status(session: Session) -> CheckStatus:
    """Return the state of the periodic checks (for the CLI, the audit pages, the DPO)."""
    last = session.scalar(
        select(func.max(AuditCheckRun.finished_at)).where(AuditCheckRun.succeeded.is_(True))
    )
    return CheckStatus(last, int(setting(session, "AUDIT_CHECK_MAX_AGE_DAYS")), clock.now())


def checks_overdue(session: Session) -> bool:
    """True when the last successful check is older than allowed (or never ran): warn the DPO."""
    return check_status(session).overdue
