"""Patients and their encrypted submissions: the data path from form to storage and back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l

from portal.db import get_engine
from portal.navigation import NavEntry, add_menu_entry
from portal.permissions import Permission, public


def init_app(app: Flask) -> None:
    """Register the blueprint, the CLI group and the menu entries."""
    from portal.audit.lookups import register_case_naming
    from portal.errors import resend_on_outage
    from portal.outbox.services import register_outcome_hook
    from portal.protocols.services import register_forms_in_use, register_version_installed
    from portal.records import form_routes, models, routes  # noqa: F401 - views, tables
    from portal.records.blueprint import bp
    from portal.records.form_codes import register
    from portal.records.lookups import (
        case_numbers_of,
        forms_with_submissions,
        reference_of_case_number,
    )
    from portal.records.pharmacovigilance import MAIL_SENT_HOOK, mail_outcome
    from portal.records.schedule_state import follow_version
    from portal.records.sealed_tables import register as register_sealed_tables

    register(get_engine(app), lambda: app.extensions["portal.keys"])

    app.register_blueprint(bp)
    from portal.records.cli import records_cli

    app.cli.add_command(records_cli)
    # A form page's POST is idempotent (its token): the outage page may offer to send it again.
    resend_on_outage(app, "records.fill", "records.edit")
    # The blueprint's static files (the print stylesheet) carry no data.
    app.view_functions["records.static"] = public(_static_view(bp.send_static_file))
    register_sealed_tables()
    # The serious-event mail's audit entry is written by the sender, once it left.
    register_outcome_hook(MAIL_SENT_HOOK, mail_outcome)
    # A new protocol version must keep what stored submissions use.
    register_forms_in_use(app, forms_with_submissions)
    # The cases' schedule states follow the version in force (new visits, new windows).
    register_version_installed(app, follow_version)
    # The trail names a case by its opaque reference; its pages show the case number beside.
    register_case_naming(app, case_numbers_of, reference_of_case_number)
    add_menu_entry(app, NavEntry("records.my_patients", _l("My patients"),
                                 Permission.PATIENT_CREATE))
    add_menu_entry(app, NavEntry("records.patients", _l("Patients"), Permission.PATIENT_READ))
    add_menu_entry(app, NavEntry("records.events", _l("Adverse events"),
                                 Permission.SUBMISSION_READ))
    add_menu_entry(app, NavEntry("records.exports", _l("Exports"), Permission.RECORD_EXPORT))


def _static_view(send: Callable[[str], Any]) -> Callable[[str], Any]:
    def static(filename: str) -> Any:
        return send(filename)

    return static


def attach_engine(app: Flask, engine: Any) -> None:
    """Let another engine on a copy of this portal's data (a restored backup, a scratch
    database) store and read form keys as the app's own engine does: as their keyed codes."""
    from portal.records.form_codes import register

    register(engine, lambda: app.extensions["portal.keys"])


def event_refs_of(session: Any, submission_ids: list[int]) -> list[str]:
    """The opaque codes by which the pharmacovigilance hand-offs name these submissions (the
    retention area archives and purges a case's hand-offs with it)."""
    from portal.records.pharmacovigilance import event_ref

    return sorted(event_ref(session, i) for i in submission_ids)


def paper_sections(protocol: Any, form: Any, locale: str | None = None) -> list[Any]:
    """The paper version of a form, as the print page lays it out (public face: the form
    builder previews a draft's paper version with it)."""
    from portal.records.paper import paper_form

    return paper_form(protocol, form, locale)
