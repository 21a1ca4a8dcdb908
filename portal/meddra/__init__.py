"""MedDRA codes: the laboratory's licensed release, loaded by `portal meddra load DIR`.

Typed MedDRA codes are checked for their format always, and against the loaded release when
there is one (services.validators_for, called by the protocol form fields); pages and exports
show them with their name (services.term_names). The portal ships no MedDRA content.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the `portal meddra` commands and the form pages' note on unchecked codes."""
    from portal.meddra import models  # noqa: F401 - tables on the metadata
    from portal.meddra.cli import meddra_cli
    from portal.meddra.services import unchecked_note

    app.cli.add_command(meddra_cli)
    app.jinja_env.globals["meddra_unchecked_note"] = unchecked_note
