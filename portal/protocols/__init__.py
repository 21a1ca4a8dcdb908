"""PUT-SP protocols as versioned form definitions: schema, compliance rules, WTForms, importers."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the `portal protocol` commands."""
    from portal.protocols import models  # noqa: F401 - tables on the metadata
    from portal.protocols.cli import protocol_cli

    app.cli.add_command(protocol_cli)
