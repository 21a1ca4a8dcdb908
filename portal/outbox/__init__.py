"""The durable outbox (issue 21): every mail is queued in the transaction that causes it and
delivered by a sender, with retries, a lease, and failures visible to administrators.

- services: `enqueue`, `send_due` (the sender), `status`, `problems`, `register_outcome_hook`;
- cli: `portal outbox send|status`;
- routes: `/outbox/`, the administrators' page of the waiting and failed messages.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the outbox page, its commands, the footer link and the sealed table."""
    from flask_babel import lazy_gettext as _l

    from portal.navigation import NavEntry, add_footer_entry
    from portal.outbox import models  # noqa: F401 - the table on the metadata
    from portal.outbox.cli import outbox_cli
    from portal.outbox.routes import bp
    from portal.permissions import Permission

    app.register_blueprint(bp)
    app.cli.add_command(outbox_cli)
    add_footer_entry(app, NavEntry("outbox.messages", _l("Outgoing mail"),
                                   Permission.OUTBOX_READ))
    _register_sealed_table()


def _register_sealed_table() -> None:
    """Let `portal keys rotate` re-wrap the data keys of the messages still waiting."""
    from sqlalchemy import select

    from portal.outbox.models import OutboxMessage
    from portal.sealing import WrappedTable, outbox_aad, register_wrapped_table

    register_wrapped_table(WrappedTable(
        "outbox_message", OutboxMessage.__table__,  # type: ignore[arg-type]
        lambda: select(OutboxMessage.id, OutboxMessage.kek_version, OutboxMessage.wrapped_key,
                       OutboxMessage.handle).where(OutboxMessage.wrapped_key.is_not(None)),
        lambda row: outbox_aad(row.handle),
    ))
