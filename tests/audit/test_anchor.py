"""Anchors: the daily jobs keep the chain head outside the database; verify checks against it."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from portal import clock
from portal.audit import anchor as anchors
from portal.audit.services import current_head
from portal.audit.verify import verify
from tests.audit.helpers import entries, tamper, write_entries
from tests.helpers_auth import mail_body, outbox


@pytest.fixture
def app_config(app_config: dict[str, object], tmp_path: Path) -> dict[str, object]:
    """Every app of this module anchors into tmp_path/anchors, as production must."""
    app_config["AUDIT_ANCHOR_DIR"] = str(tmp_path / "anchors")
    return app_config


@pytest.fixture(autouse=True)
def daytime() -> Iterator[None]:
    """A weekday morning: the checks raise no night-activity alert, the numbers stay fixed."""
    with clock.frozen(datetime(2026, 6, 10, 8, 0, tzinfo=UTC)):
        yield


@pytest.fixture
def anchor_dir(app: Flask) -> Path:
    return Path(app.config["AUDIT_ANCHOR_DIR"])


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("audit-anchor-*.json"))


def _cut(db: Session, keep: int) -> None:
    """What the database owner can do: drop the triggers, delete the newest entries, rewind."""
    kept = entries(db)[keep - 1].hash
    tamper(db, [f"DELETE FROM audit_event WHERE seq > {keep}",
                "UPDATE audit_head SET seq = :seq, last_hash = :kept"], seq=keep, kept=kept)


def test_the_daily_check_anchors_the_head_and_a_cut_tail_then_fails_verify(
    runner, db: Session, anchor_dir: Path  # noqa: ANN001
) -> None:
    write_entries(db, 5)
    checked = runner.invoke(args=["audit", "check"])
    assert checked.exit_code == 0, checked.output
    head = current_head(db)
    [anchor_file] = _files(anchor_dir)
    assert f"Chain head {head.seq} anchored: {anchor_file}." in checked.output
    assert anchor_file.name.startswith(f"audit-anchor-{head.seq:012d}-")
    assert stat.S_IMODE(anchor_file.stat().st_mode) == 0o600

    _cut(db, 4)
    assert verify(db).ok  # without the anchor the cut is invisible

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert (f"Audit trail BROKEN at seq 5: deleted (the trail ends before the anchored head "
            f"{head.seq})." in result.output)
    assert f"Newest anchor: seq {head.seq}, written 0 hours ago ({anchor_file.name})." in (
        result.output)
    last = entries(db)[-1]
    assert (last.action, last.outcome, last.details["anchor_seq"]) == (
        "audit:chain:verify", "failure", head.seq)


def test_a_trail_cut_then_refilled_still_differs_from_the_older_anchor(
    runner, db: Session, anchor_dir: Path  # noqa: ANN001
) -> None:
    """Cut back to 3, then the portal writes on and the next daily job anchors the new head:
    the anchor written before the cut still shows it, in verify and in the daily check."""
    write_entries(db, 5)
    assert runner.invoke(args=["audit", "check"]).exit_code == 0
    anchored = current_head(db).seq
    _cut(db, 3)
    write_entries(db, anchored)
    assert verify(db).ok

    checked = runner.invoke(args=["audit", "check"])
    assert checked.exit_code == 0, checked.output
    assert f"ALERT A1 broken_chain chain seq {anchored}-{anchored}" in checked.output
    assert len(_files(anchor_dir)) == 2  # the shortened trail is anchored too...

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1  # ...but the older anchor is still checked
    assert (f"BROKEN at seq {anchored}: modified (the entry differs from the anchored head)"
            in result.output)
    assert "1 older anchor checked too" in result.output


def test_an_intact_trail_verifies_against_its_anchor(
    runner, db: Session, anchor_dir: Path  # noqa: ANN001
) -> None:
    write_entries(db, 3)
    assert runner.invoke(args=["audit", "head", "--output", str(anchor_dir.parent / "h.json")]
                         ).exit_code == 0
    write_entries(db, 2)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "Audit trail intact: 6 entries verified (seq 1 to 6); anchored head 4 found." in (
        result.output)
    assert "Warning" not in result.output


def test_purge_and_head_anchor_too_and_never_overwrite(
    runner, db: Session, anchor_dir: Path  # noqa: ANN001
) -> None:
    write_entries(db, 2, at=clock.now() - timedelta(days=400))
    write_entries(db, 2)
    purged = runner.invoke(args=["audit", "purge"])
    assert purged.exit_code == 0, purged.output
    assert "Chain head 5 anchored" in purged.output
    printed = runner.invoke(args=["audit", "head"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout)["seq"] == 6  # stdout holds the JSON alone
    assert "Chain head 6 anchored" in printed.stderr
    first = [(p.name, p.read_bytes()) for p in _files(anchor_dir)]
    assert [name[:25] for name, _ in first] == ["audit-anchor-000000000005",
                                                "audit-anchor-000000000006"]
    assert runner.invoke(args=["audit", "check"]).exit_code == 0
    after = {p.name: p.read_bytes() for p in _files(anchor_dir)}
    assert len(after) == 3 and all(after[name] == body for name, body in first)


def test_an_anchor_is_never_overwritten_by_another(app: Flask, db: Session,
                                                   anchor_dir: Path) -> None:
    write_entries(db, 2)
    key = anchors.audit_key(app)
    head = current_head(db)
    now = clock.now()
    anchor = anchors.Anchor(head.seq, head.hash, head.at, now)
    path = anchors.write_anchor(anchor_dir, key, anchor)
    body = path.read_bytes()
    # The same anchor again (two jobs in the same second) is fine and changes nothing.
    assert anchors.write_anchor(anchor_dir, key, anchor) == path
    other = anchors.Anchor(head.seq, b"\x09" * 32, head.at, now)
    with pytest.raises(anchors.AnchorError, match="never overwritten"):
        anchors.write_anchor(anchor_dir, key, other)
    assert path.read_bytes() == body
    assert [p.name for p in anchor_dir.iterdir()] == [path.name]  # no temporary file left


def _forge(anchor_dir: Path, seq: int, **changes: object) -> Path:
    """Copy the newest anchor under a higher number, changed without the audit key."""
    source = json.loads(_files(anchor_dir)[-1].read_text())
    forged = {**source, "seq": seq, **changes}
    path = anchor_dir / f"audit-anchor-{seq:012d}-20991231T000000Z.json"
    path.write_text(json.dumps(forged))
    return path


def test_a_forged_anchor_is_reported_and_ignored(
    runner, db: Session, anchor_dir: Path  # noqa: ANN001
) -> None:
    write_entries(db, 3)
    assert runner.invoke(args=["audit", "check"]).exit_code == 0
    anchored = current_head(db).seq
    forged = _forge(anchor_dir, 999)
    garbage = anchor_dir / "audit-anchor-000000000998-20991231T000000Z.json"
    garbage.write_text("not json")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert (f"Warning: {forged} is ignored: its signature does not hold under the audit key"
            in result.output)
    assert f"Warning: {garbage} is ignored: it is not JSON." in result.output
    assert f"anchored head {anchored} found" in result.output


def test_a_renamed_genuine_anchor_is_not_trusted(app: Flask, db: Session,
                                                 anchor_dir: Path) -> None:
    write_entries(db, 2)
    path = anchors.publish(app, current_head(db)).path
    renamed = anchor_dir / "audit-anchor-000000000050-20991231T000000Z.json"
    renamed.write_bytes(path.read_bytes())
    scan = anchors.read_anchors(anchor_dir, anchors.audit_key(app))
    assert scan.newest is not None and scan.newest.seq == 2
    assert scan.rejected == [(renamed, "its name does not match its sequence number")]


def test_an_anchor_from_another_key_is_not_trusted(app: Flask, db: Session,
                                                   anchor_dir: Path) -> None:
    write_entries(db, 2)
    head = current_head(db)
    anchors.write_anchor(anchor_dir, b"\x01" * 32,
                         anchors.Anchor(head.seq, head.hash, head.at, clock.now()))
    scan = anchors.read_anchors(anchor_dir, anchors.audit_key(app))
    assert scan.newest is None
    assert "signature does not hold" in scan.rejected[0][1]


def test_verify_warns_when_the_newest_anchor_is_old(
    runner, db: Session, anchor_dir: Path  # noqa: ANN001
) -> None:
    write_entries(db, 2)
    assert runner.invoke(args=["audit", "check"]).exit_code == 0
    with clock.frozen(clock.now() + timedelta(days=3, hours=1)):
        result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "Newest anchor: seq 3, written 3 days ago" in result.output
    assert ("Warning: the newest anchor is 3 days old, more than the 2 days allowed"
            in result.output)


def test_verify_says_when_there_is_nothing_to_check_against(
    runner, app: Flask, db: Session, anchor_dir: Path  # noqa: ANN001
) -> None:
    write_entries(db, 2)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0
    assert f"Warning: cannot read the anchors in {anchor_dir}: the directory does not exist" in (
        result.output)
    anchor_dir.mkdir()
    empty = runner.invoke(args=["audit", "verify"])
    assert f"Warning: no genuine anchor in {anchor_dir}" in empty.output
    app.config["AUDIT_ANCHOR_DIR"] = ""
    unset = runner.invoke(args=["audit", "verify"])
    assert "Note: no anchor directory is configured (PORTAL_AUDIT_ANCHOR_DIR)" in unset.output


def test_verify_reads_another_anchor_directory_when_told(
    runner, db: Session, anchor_dir: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    write_entries(db, 4)
    assert runner.invoke(args=["audit", "check"]).exit_code == 0
    copy = tmp_path / "copied"
    anchor_dir.rename(copy)
    _cut(db, 2)
    result = runner.invoke(args=["audit", "verify", "--anchors", str(copy)])
    assert result.exit_code == 1
    assert "the trail ends before the anchored head 5" in result.output


def test_a_job_that_cannot_anchor_fails_after_doing_its_work(
    runner, app: Flask, db: Session, tmp_path: Path  # noqa: ANN001
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app.config["AUDIT_ANCHOR_DIR"] = str(blocker)
    write_entries(db, 2)
    result = runner.invoke(args=["audit", "check"])
    assert result.exit_code == 1
    assert "The audit trail's head could not be anchored: cannot write" in result.output
    assert "The check itself is done." in result.output
    assert entries(db)[-1].action == "audit:check:run"


def test_the_anchor_can_go_by_mail_and_be_checked_from_the_saved_text(
    runner, app: Flask, db: Session, tmp_path: Path  # noqa: ANN001
) -> None:
    app.config["AUDIT_ANCHOR_DIR"] = ""
    app.config["AUDIT_ANCHOR_MAIL"] = "audit-anchors@example.org"
    write_entries(db, 3)
    result = runner.invoke(args=["audit", "check"])
    assert result.exit_code == 0, result.output
    assert "Chain head 4 anchored: audit-anchors@example.org." in result.output
    [message] = outbox(app)
    assert message["To"] == "audit-anchors@example.org"
    assert message["Subject"] == "AAC Portal audit anchor: entry 4"
    body = mail_body(message)
    saved = tmp_path / "saved.json"
    saved.write_text(body[body.index("{"):])

    _cut(db, 2)
    cut = runner.invoke(args=["audit", "verify", "--head", str(saved)])
    assert cut.exit_code == 1
    assert "BROKEN at seq 3: deleted (the trail ends before the anchored head 4)" in cut.output

    saved.write_text(saved.read_text().replace('"seq": 4', '"seq": 2'))
    forged = runner.invoke(args=["audit", "verify", "--head", str(saved)])
    assert forged.exit_code != 0
    assert f"{saved} is not a genuine audit anchor: its signature does not hold" in (
        forged.output)
