"""Retention (referential section 9): active base, intermediate archive, then purge."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Check the settings (an archive over 70 years refuses to start), register CLI and pages."""
    from portal.retention import (
        models,  # noqa: F401 - the tables on the metadata
        settings,
    )
    from portal.retention.cli import retention_cli

    settings.init_app(app)
    app.cli.add_command(retention_cli)
