"""`portal audit verify | head | purge | check`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from portal import clock
from portal.audit import rules
from tests.audit.helpers import actions, entries, tamper, write_entries


def test_verify_prints_the_count_of_an_intact_trail(runner, db: Session) -> None:  # noqa: ANN001
    write_entries(db, 12)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "Audit trail intact: 12 entries verified (seq 1 to 12)." in result.output
    last = entries(db)[-1]
    assert (last.action, last.outcome, last.actor_kind) == ("audit:chain:verify", "success", "cli")
    assert last.details["count"] == 12


def test_verify_exits_non_zero_with_the_first_bad_number(runner, db: Session) -> None:  # noqa: ANN001
    write_entries(db, 12)
    tamper(db, ["DELETE FROM audit_event WHERE seq = 5"])
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "Audit trail BROKEN at seq 5: deleted" in result.output
    last = entries(db)[-1]
    assert (last.action, last.outcome, last.details["first_bad_seq"]) == (
        "audit:chain:verify", "failure", 5)


def test_the_exported_head_is_checked_by_verify(
    runner, db: Session, tmp_path: Path  # noqa: ANN001
) -> None:
    write_entries(db, 5)
    target = tmp_path / "head.json"
    exported = runner.invoke(args=["audit", "head", "--output", str(target)])
    assert exported.exit_code == 0, exported.output
    assert f"Chain head 6 written to {target}." in exported.output
    head = json.loads(target.read_text())
    assert head["seq"] == 6 and len(bytes.fromhex(head["hash"])) == 32
    assert head["at"] and head["exported_at"]
    assert actions(db)[-1] == "audit:head:export"

    ok = runner.invoke(args=["audit", "verify", "--head", str(target)])
    assert ok.exit_code == 0, ok.output
    assert "exported head 6 found" in ok.output

    # The newest entries disappear and the head row is rewritten to match: only the
    # exported head tells.
    kept = entries(db)[3].hash
    tamper(db, ["DELETE FROM audit_event WHERE seq > 4",
                "UPDATE audit_head SET seq = 4, last_hash = :kept"], kept=kept)
    cut = runner.invoke(args=["audit", "verify", "--head", str(target)])
    assert cut.exit_code == 1
    assert "BROKEN at seq 5: deleted" in cut.output


def test_head_prints_json_when_no_file_is_given(runner, db: Session) -> None:  # noqa: ANN001
    write_entries(db, 2)
    result = runner.invoke(args=["audit", "head"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["seq"] == 3 and data["hash"] == entries(db)[-1].hash.hex()


def test_verify_refuses_a_file_that_is_not_a_head(runner, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.json"
    bad.write_text('{"seq": 1}')
    result = runner.invoke(args=["audit", "verify", "--head", str(bad)])
    assert result.exit_code != 0
    assert "is not an exported audit head" in result.output
    missing = runner.invoke(args=["audit", "verify", "--head", str(tmp_path / "none.json")])
    assert missing.exit_code != 0 and "is not an exported audit head" in missing.output


def test_purge_refuses_a_retention_outside_the_bounds(runner, db: Session) -> None:  # noqa: ANN001
    write_entries(db, 3, at=clock.now() - timedelta(days=400))
    for days in ("100", "400"):
        result = runner.invoke(args=["audit", "purge", "--retention-days", days])
        assert result.exit_code != 0
        assert "Purge refused: the retention must be between 183 and 365 days" in result.output
    assert len(entries(db)) == 3


def test_purge_deletes_old_entries_and_the_trail_still_verifies(
    runner, db: Session  # noqa: ANN001
) -> None:
    write_entries(db, 3, at=clock.now() - timedelta(days=400))
    write_entries(db, 2)
    result = runner.invoke(args=["audit", "purge"])
    assert result.exit_code == 0, result.output
    assert ("Purged 3 entries older than 365 days (up to seq 3); checkpoint written."
            in result.output)
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "after checkpoint 3" in verified.output
    again = runner.invoke(args=["audit", "purge", "--retention-days", "183"])
    assert "Nothing to purge" in again.output


def test_check_records_alerts_and_its_status(runner, db: Session) -> None:  # noqa: ANN001
    never = runner.invoke(args=["audit", "check", "--status"])
    assert never.exit_code == 1 and "never run" in never.output

    write_entries(db, 3)
    tamper(db, ["UPDATE audit_event SET outcome = 'denied' WHERE seq = 2"])
    result = runner.invoke(args=["audit", "check"])
    assert result.exit_code == 0, result.output
    assert f"ALERT A1 {rules.BROKEN_CHAIN} chain seq 2-2" in result.output
    assert "1 new alert(s)" in result.output
    assert runner.invoke(args=["audit", "check"]).output.count("ALERT") == 0

    status = runner.invoke(args=["audit", "check", "--status"])
    assert status.exit_code == 0 and "0 days ago" in status.output
    with clock.frozen(clock.now() + timedelta(days=61)):
        late = runner.invoke(args=["audit", "check", "--status"])
    assert late.exit_code == 1 and "overdue" in late.output


def test_a_check_that_fails_is_not_counted(
    runner, db: Session, app: Flask, monkeypatch  # noqa: ANN001
) -> None:
    def broken(_ctx):  # noqa: ANN001, ANN202
        raise RuntimeError("rule crashed")

    monkeypatch.setitem(rules.RULES, rules.NIGHT_ACTIVITY, broken)
    monkeypatch.setattr("portal.audit.checks.RULES", rules.RULES)
    result = runner.invoke(args=["audit", "check"])
    assert result.exit_code != 0 and "The audit checks stopped: rule crashed" in result.output
    last = entries(db)[-1]
    assert (last.action, last.outcome, last.details["error"]) == (
        "audit:check:run", "failure", "RuntimeError")
    assert runner.invoke(args=["audit", "check", "--status"]).exit_code == 1
