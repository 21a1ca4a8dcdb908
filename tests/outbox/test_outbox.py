"""The durable outbox against a real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS with a
self-signed certificate): queued with the action, sealed, sent once, retried, given up."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal import clock
from portal.audit.models import AuditEvent
from portal.outbox import services
from portal.outbox.models import OutboxMessage
from portal.permissions import Role
from tests.helpers_auth import login, make_user
from tests.servers import free_port
from tests.smtp_servers import Inbox, self_signed


class SlowInbox(Inbox):
    """An inbox that takes a moment per message, so that two senders overlap."""

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        time.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def tls_server(port: int, cert: Path, key: Path, inbox: Inbox) -> Iterator[Inbox]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def relay(app, tmp_path: Path) -> tuple[int, Path, Path]:  # noqa: ANN001
    """A port and a certificate for a STARTTLS relay; the app mails there, verifying it."""
    cert, key = self_signed(tmp_path)
    port = free_port()
    app.config.update(MAIL_URL=f"smtp://127.0.0.1:{port}", MAIL_CA_FILE=str(cert))
    return port, cert, key


def _queue(db, count: int) -> list[int]:  # noqa: ANN001
    messages = [services.enqueue(db, f"person{n}@example.org", f"Notice {n}",
                                 f"Hello person {n}, here is a link.\n", kind="test")
                for n in range(count)]
    db.commit()
    return [m.id for m in messages]


def test_a_message_is_queued_with_its_action_sealed_and_erased_once_sent(app, db) -> None:  # noqa: ANN001
    services.enqueue(db, "c.martin@example.org", "Rolled back", "Never leaves", kind="test")
    db.rollback()
    assert db.scalars(select(OutboxMessage)).all() == []
    services.enqueue(db, "c.martin@example.org", "Subject Dupont", "Body of Dupont",
                     kind="test")
    db.commit()
    message = db.scalars(select(OutboxMessage)).one()
    raw = bytes(message.payload or b"")
    for clear in (b"Dupont", b"c.martin", b"example.org"):
        assert clear not in raw
    assert services.send_due(app).sent == 1
    db.expire_all()
    message = db.scalars(select(OutboxMessage)).one()
    assert message.state == "sent" and message.sent_at is not None
    assert (message.payload, message.wrapped_key, message.kek_version) == (None, None, None)


def test_smtp_down_messages_wait_then_go_out_once_each(app, db, relay) -> None:  # noqa: ANN001
    port, cert, key = relay
    ids = _queue(db, 3)
    with clock.frozen(clock.now()) as moment:
        report = services.send_due(app)  # nobody listens on the port yet
        assert (report.sent, report.retried) == (0, 3)
        with tls_server(port, cert, key, Inbox()) as inbox:
            # The backoff holds: nothing is tried again before the first delay.
            assert services.send_due(app).sent == 0
            moment.tick(timedelta(seconds=59))
            assert services.send_due(app).sent == 0
            moment.tick(timedelta(seconds=2))
            assert services.send_due(app).sent == 3
            moment.tick(timedelta(hours=7))
            assert services.send_due(app).sent == 0
    assert sorted(m["Subject"] for m in inbox.messages) == ["Notice 0", "Notice 1", "Notice 2"]
    assert inbox.encrypted == [True, True, True]
    rows = db.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).all()
    assert {(r.state, r.attempts) for r in rows} == {("sent", 2)}


def test_the_delay_doubles_between_attempts_up_to_six_hours(app) -> None:  # noqa: ANN001
    app.config["OUTBOX_RETRY_SECONDS"] = 60
    assert [services.backoff(app, n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240,
                                                                                 480]
    assert services.backoff(app, 30) == timedelta(hours=6)


def test_two_senders_at_once_send_each_message_once(app, db, relay) -> None:  # noqa: ANN001
    port, cert, key = relay
    _queue(db, 24)
    reports: list[services.SendReport] = []
    start = threading.Barrier(2)

    def sender() -> None:
        start.wait(timeout=10)
        reports.append(services.send_due(app))

    with tls_server(port, cert, key, SlowInbox()) as inbox:
        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert len(reports) == 2
    assert sum(r.sent for r in reports) == 24
    assert sum(r.skipped for r in reports) > 0  # they did compete for the same messages
    assert sorted(m["Subject"] for m in inbox.messages) == sorted(
        f"Notice {n}" for n in range(24))
    assert len({m["Message-ID"] for m in inbox.messages}) == 24
    assert {m.state for m in db.scalars(select(OutboxMessage))} == {"sent"}


def test_a_message_held_by_a_sender_that_died_is_sent_after_its_lease(app, db, relay) -> None:  # noqa: ANN001
    port, cert, key = relay
    (message_id,) = _queue(db, 1)
    with clock.frozen(clock.now()) as moment, tls_server(port, cert, key, Inbox()) as inbox:
        # A sender claims the message, then dies before sending it.
        assert services._claim(app, message_id, "dead-sender", 8)
        report = services.send_due(app)
        assert (report.sent, report.skipped) == (0, 0)  # its lease still runs: not even due
        moment.tick(timedelta(seconds=int(app.config["OUTBOX_LEASE_SECONDS"]) + 1))
        assert services.send_due(app).sent == 1
        assert services.send_due(app).sent == 0
    assert len(inbox.messages) == 1
    db.expire_all()
    message = db.get(OutboxMessage, message_id)
    assert (message.state, message.attempts, message.lease_owner) == ("sent", 2, None)


def test_a_message_is_given_up_after_the_last_attempt_and_shown_to_administrators(
        app, db, client, relay) -> None:  # noqa: ANN001
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    (message_id,) = _queue(db, 1)
    with clock.frozen(clock.now()) as moment:
        outcomes = []
        for _attempt in range(4):
            outcomes.append(services.send_due(app).counts)
            moment.tick(timedelta(hours=7))
    assert [(o["retried"], o["given_up"]) for o in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    db.expire_all()
    message = db.get(OutboxMessage, message_id)
    assert (message.state, message.attempts, message.payload) == ("failed", 3, None)
    assert "ConnectionRefusedError" in (message.last_error or "")
    (entry,) = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "outbox:message:give_up")).all()
    assert entry.outcome == "failure" and entry.details["kind"] == "test"

    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    prescriber = make_user(db, "dr.martin", role=Role.PRESCRIBER)
    login(client, prescriber)
    assert client.get("/outbox/").status_code == 403
    client.post("/logout")
    other = app.test_client()
    login(other, admin)
    page = other.get("/outbox/").get_data(as_text=True)
    assert "Given up: 1" in page and "ConnectionRefusedError" in page
    assert "person0" not in page and "Notice 0" not in page  # never the content


def test_a_sender_dying_during_the_last_attempt_leaves_a_visible_failure(app, db, relay) -> None:  # noqa: ANN001
    app.config["OUTBOX_MAX_ATTEMPTS"] = 1
    (message_id,) = _queue(db, 1)
    with clock.frozen(clock.now()) as moment:
        assert services._claim(app, message_id, "dead-sender", 1)
        moment.tick(timedelta(seconds=int(app.config["OUTBOX_LEASE_SECONDS"]) + 1))
        assert services.send_due(app).given_up == 1
    db.expire_all()
    message = db.get(OutboxMessage, message_id)
    assert message.state == "failed" and "stopped" in (message.last_error or "")


def test_the_commands_send_and_report(app, db, runner, relay) -> None:  # noqa: ANN001
    port, cert, key = relay
    _queue(db, 2)
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 1 and "to retry 2" in result.output
    result = runner.invoke(args=["outbox", "status"])
    assert result.exit_code == 0 and "Waiting 2" in result.output
    with clock.frozen(clock.now() + timedelta(minutes=5)), \
            tls_server(port, cert, key, Inbox()) as inbox:
        result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0 and "Sent 2" in result.output
    assert len(inbox.messages) == 2
    result = runner.invoke(args=["outbox", "status"])
    assert result.exit_code == 0 and "Waiting 0" in result.output and "sent 2" in result.output


def test_a_failing_outcome_hook_never_makes_a_message_leave_twice(app, db) -> None:  # noqa: ANN001
    def broken(session, message, sent, args) -> None:  # noqa: ANN001
        raise RuntimeError("the area's hook failed")

    services.register_outcome_hook("tests.broken", broken)
    services.enqueue(db, "c.martin@example.org", "Subject", "Body", kind="test",
                     on_outcome="tests.broken")
    db.commit()
    assert services.send_due(app).sent == 1
    with clock.frozen(clock.now() + timedelta(hours=1)):
        assert services.send_due(app).sent == 0
    db.expire_all()
    assert db.scalars(select(OutboxMessage.state)).all() == ["sent"]


def test_a_hook_nobody_registered_is_refused_when_queueing(db) -> None:  # noqa: ANN001
    with pytest.raises(services.OutboxError, match="no outbox outcome hook"):
        services.enqueue(db, "c.martin@example.org", "S", "B", kind="test",
                         on_outcome="tests.nobody")
