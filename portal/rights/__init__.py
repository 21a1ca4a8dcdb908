"""Rights of persons (referential section 11): access, rectification and limitation requests."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the rights pages, menu entries, template helpers, CLI and sealed table."""
    from flask_babel import lazy_gettext as _l

    from portal.config import ConfigError
    from portal.navigation import NavEntry, add_menu_entry
    from portal.outbox.services import register_outcome_hook
    from portal.permissions import Permission
    from portal.rights import models  # noqa: F401 - the tables on the metadata
    from portal.rights.cli import rights_cli
    from portal.rights.notify import MAIL_OUTCOME_HOOK, mail_outcome
    from portal.rights.routes import bp

    if int(app.config["RIGHTS_RETENTION_YEARS"]) < 1:
        raise ConfigError("PORTAL_RIGHTS_RETENTION_YEARS must be at least 1 (year).")

    app.register_blueprint(bp)
    app.cli.add_command(rights_cli)
    add_menu_entry(app, NavEntry("rights.my_requests", _l("Patients' rights"),
                                 Permission.RIGHTS_SUBMIT))
    add_menu_entry(app, NavEntry("rights.dashboard", _l("Requests to handle"),
                                 Permission.RIGHTS_HANDLE))
    _register_sealed_table()
    register_outcome_hook(MAIL_OUTCOME_HOOK, mail_outcome)


def _register_sealed_table() -> None:
    """Let `portal keys rotate` re-wrap the data keys of the sealed answers and details."""
    from sqlalchemy import select

    from portal.db import table_of
    from portal.rights.models import RightsAnswer, RightsRequestDetails
    from portal.sealing import (
        WrappedTable,
        register_wrapped_table,
        rights_answer_aad,
        rights_details_aad,
    )

    register_wrapped_table(WrappedTable(
        "rights_request_details", table_of(RightsRequestDetails),
        lambda: select(RightsRequestDetails.id, RightsRequestDetails.kek_version,
                       RightsRequestDetails.wrapped_key, RightsRequestDetails.handle,
                       RightsRequestDetails.request_id),
        lambda row: rights_details_aad(row.handle, row.request_id),
    ))
    register_wrapped_table(WrappedTable(
        "rights_answer", table_of(RightsAnswer),
        lambda: select(RightsAnswer.id, RightsAnswer.kek_version, RightsAnswer.wrapped_key,
                       RightsAnswer.handle, RightsAnswer.request_id),
        lambda row: rights_answer_aad(row.handle, row.request_id),
    ))
