"""Alembic environment: the portal's models are the target; the engine comes from the app."""

from __future__ import annotations

from alembic import context

import portal.models  # noqa: F401 - registers every table on the metadata
from portal.db import Base

config = context.config
target_metadata = Base.metadata


def _engine():  # noqa: ANN202
    engine = config.attributes.get("engine")
    if engine is None:
        # Run as plain `alembic`: build the app from the environment (PORTAL_* variables).
        from portal import create_app
        from portal.db import get_engine

        engine = get_engine(create_app())
    return engine


def run_migrations_online() -> None:
    """Run the migrations in a transaction on the app's engine."""
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run `portal db upgrade`")
run_migrations_online()
