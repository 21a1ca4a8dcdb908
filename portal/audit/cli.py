"""`portal audit`: verify the chain, export its head, purge old entries, run the checks.

`check`, `purge` and `head` also anchor the head they leave behind outside the database
(anchor.py); `verify` checks the trail against the newest anchor.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal import clock
from portal.audit import anchor as anchors
from portal.audit.actions import AuditAction
from portal.audit.checks import check_status, record_failed_run, run_checks
from portal.audit.purge import RetentionError, purge
from portal.audit.services import Head, cli_actor, current_head, record
from portal.audit.verify import ExportedHead, verify
from portal.db import new_session

audit_cli = AppGroup("audit", help="Verify, export, purge and check the audit trail.")


def _read_head(app: Flask, path: Path) -> ExportedHead:
    try:
        data = json.loads(path.read_text())
        if anchors.is_anchor(data):
            return anchors.from_json(data, anchors.audit_key(app), path).as_head()
        return ExportedHead.from_json(data)
    except anchors.AnchorError as exc:
        raise click.ClickException(f"{path} is not a genuine audit anchor: {exc}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise click.ClickException(f"{path} is not an exported audit head: {exc}") from None


def _age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{delta.days} days"


def _read_anchors(app: Flask, directory: Path | None) -> anchors.AnchorScan | None:
    """Read the genuine anchors, telling on stderr what could not be trusted."""
    if directory is None:
        click.echo("Note: no anchor directory is configured (PORTAL_AUDIT_ANCHOR_DIR): the end "
                   "of the trail cannot be checked against an anchor.")
        return None
    scan = anchors.read_anchors(directory, anchors.audit_key(app))
    for path, reason in scan.rejected:
        click.echo(f"Warning: {path} is ignored: {reason}.", err=True)
    if scan.error is not None:
        click.echo(f"Warning: cannot read the anchors in {directory}: {scan.error}; the end of "
                   "the trail cannot be checked against an anchor.", err=True)
    elif scan.newest is None:
        click.echo(f"Warning: no genuine anchor in {directory}: the end of the trail cannot be "
                   "checked against an anchor.", err=True)
    return scan


def _report_anchor_age(app: Flask, scan: anchors.AnchorScan) -> None:
    anchor = scan.newest
    if anchor is None:
        return
    age = anchor.age(clock.now())
    name = anchor.path.name if anchor.path is not None else ""
    others = len(scan.anchors) - 1
    also = f"; {others} older anchor{'s' if others != 1 else ''} checked too" if others else ""
    click.echo(f"Newest anchor: seq {anchor.seq}, written {_age(age)} ago ({name}){also}.")
    bound = anchors.max_age(app)
    if age > bound:
        click.echo(f"Warning: the newest anchor is {_age(age)} old, more than the "
                   f"{bound.days} days allowed: check that the daily audit jobs run and can "
                   "write their anchors.", err=True)


@audit_cli.command("verify")
@click.option("--head", "head_file", type=click.Path(dir_okay=False, path_type=Path),
              help="An exported head (from `portal audit head`) or an anchor file the trail "
                   "must still contain.")
@click.option("--anchors", "anchor_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Read the anchors from this directory (default: AUDIT_ANCHOR_DIR).")
def verify_command(head_file: Path | None, anchor_dir: Path | None) -> None:
    """Walk the chain; exit 0 when intact, 1 with the first bad sequence number otherwise.

    The trail must also reach the newest genuine anchor, unchanged.
    """
    app = current_app
    exported = _read_head(app, head_file) if head_file is not None else None
    scan = _read_anchors(app, anchor_dir or anchors.anchor_directory(app))
    anchor = scan.newest if scan is not None else None
    with new_session(app) as session:
        result = verify(session, exported, anchors=scan.heads() if scan is not None else ())
        problem = result.problem
        record(
            session, cli_actor(), AuditAction.CHAIN_VERIFY,
            outcome="success" if problem is None else "failure",
            count=result.count, first_bad_seq=problem.seq if problem else None,
            kind=problem.kind if problem else None,
            anchor_seq=anchor.seq if anchor else None,
        )
        session.commit()
    for note in result.notes:
        click.echo(f"Note: {note}.")
    if scan is not None:
        _report_anchor_age(app, scan)
    if problem is not None:
        click.echo(f"Audit trail BROKEN at seq {problem.seq}: {problem.kind} ({problem.reason}).",
                   err=True)
        click.get_current_context().exit(1)
    start = f" after checkpoint {result.checkpoint_seq}" if result.checkpoint_seq else ""
    span = f" (seq {result.first_seq} to {result.last_seq})" if result.count else ""
    checked = f"; {exported.origin} {exported.seq} found" if exported is not None else ""
    anchored = f"; anchored head {anchor.seq} found" if anchor is not None else ""
    click.echo(f"Audit trail intact: {result.count} entries verified{span}{start}{checked}"
               f"{anchored}.")


def _anchor(app: Flask, head: Head | None = None, *, job: str, err: bool = False) -> None:
    """Anchor the head outside the database once `job` is committed; fail loudly if it cannot."""
    if head is None:
        with new_session(app) as session:
            head = current_head(session)
    try:
        published = anchors.publish(app, head)
    except anchors.AnchorError as exc:
        raise click.ClickException(
            f"The audit trail's head could not be anchored: {exc}. The {job} itself is done."
        ) from None
    if published is None:
        return
    places = [str(p) for p in (published.path, published.mailed_to) if p is not None]
    click.echo(f"Chain head {published.anchor.seq} anchored: {', '.join(places)}.", err=err)


@audit_cli.command("head")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the head to this file instead of printing it.")
def head_command(output: Path | None) -> None:
    """Print (or write) the chain head as JSON {seq, hash, at}, to keep it elsewhere."""
    with new_session(current_app) as session:
        # The export is recorded first: the head exported is that very entry.
        record(session, cli_actor(), AuditAction.HEAD_EXPORT,
               to_file=bool(output))
        head = current_head(session)
        session.commit()
    text = json.dumps({**head.as_json(), "exported_at": clock.now().isoformat()}, indent=2)
    if output is None:
        click.echo(text)
    else:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, output)
        click.echo(f"Chain head {head.seq} written to {output}.")
    # Printed JSON stays alone on stdout: the anchor's line then goes to stderr.
    _anchor(current_app, head, job="export", err=output is None)


@audit_cli.command("purge")
@click.option("--retention-days", type=int, default=None,
              help="Keep this many days (183 to 365; default: AUDIT_RETENTION_DAYS).")
def purge_command(retention_days: int | None) -> None:
    """Delete entries older than the retention, after writing a checkpoint."""
    with new_session(current_app) as session:
        try:
            result = purge(session, cli_actor(), retention_days)
        except RetentionError as exc:
            raise click.ClickException(f"Purge refused: {exc}.") from None
        session.commit()
    if result.deleted == 0:
        click.echo(f"Nothing to purge: no entry is older than {result.retention_days} days.")
    else:
        click.echo(f"Purged {result.deleted} entries older than {result.retention_days} days "
                   f"(up to seq {result.up_to_seq}); checkpoint written.")
    _anchor(current_app, job="purge")


@audit_cli.command("check")
@click.option("--status", "status_only", is_flag=True,
              help="Only tell when the checks last succeeded; exit 1 when over 60 days ago.")
def check_command(status_only: bool) -> None:
    """Run the anomaly rules and record each finding as an alert."""
    actor = cli_actor()
    with new_session(current_app) as session:
        if status_only:
            status = check_status(session)
            if status.last_success is None:
                click.echo("The audit checks have never run successfully.", err=True)
                click.get_current_context().exit(1)
            click.echo(f"Last successful audit check: {status.last_success.isoformat()} "
                       f"({status.age_days} days ago; at most {status.max_age_days} allowed).")
            if status.overdue:
                click.echo("The audit checks are overdue.", err=True)
                click.get_current_context().exit(1)
            return
        started = clock.now()
        try:
            report = run_checks(session, actor)
            session.commit()
        except Exception as exc:
            session.rollback()
            record_failed_run(session, actor, started, type(exc).__name__)
            session.commit()
            raise click.ClickException(f"The audit checks stopped: {exc}") from exc
        for alert in report.new_alerts:
            span = f"seq {alert.seq_from}-{alert.seq_to}" if alert.seq_from else ""
            click.echo(f"ALERT {alert.audit_ref} {alert.rule} {alert.subject} {span}".rstrip())
    click.echo(f"Audit checks done: {len(report.new_alerts)} new alert(s), "
               f"{report.findings} finding(s) in all.")
    _anchor(current_app, job="check")
