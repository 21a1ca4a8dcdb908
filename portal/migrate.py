"""Alembic, driven from the portal's own configuration."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from portal.config import PROJECT_ROOT
from portal.db import get_engine

MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(app: Flask) -> Config:
    """Return an Alembic configuration bound to the app's database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Date-prefixed file names keep the history readable in a directory listing.
    config.set_main_option(
        "file_template",
        "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s",
    )
    config.attributes["engine"] = get_engine(app)
    return config


def upgrade(app: Flask, revision: str = "head") -> None:
    """Upgrade the app's database to `revision`."""
    command.upgrade(alembic_config(app), revision)


def downgrade(app: Flask, revision: str) -> None:
    """Downgrade the app's database to `revision`."""
    command.downgrade(alembic_config(app), revision)


def current_revision(app: Flask) -> str | None:
    """Return the database's current revision, or None when it has none."""
    with get_engine(app).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(app: Flask) -> str | None:
    """Return the newest revision of the migration scripts."""
    return ScriptDirectory.from_config(alembic_config(app)).get_current_head()


def describe_current(app: Flask) -> str:
    """Return Alembic's own description of the current revision."""
    out = io.StringIO()
    with redirect_stdout(out):
        command.current(alembic_config(app))
    return out.getvalue().strip()
