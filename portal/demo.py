"""Demo data: a nominative fictitious team and the demo protocol, created idempotently."""

from __future__ import annotations

from flask import Flask

from portal.db import new_session


def seed(app: Flask) -> list[str]:
    """Seed the demo data (twice is the same as once) and return what was created."""
    lines = [f"Database ready: {app.config['DATABASE_URL']}"]
    with new_session(app) as session:
        for seeder in _seeders():
            lines.extend(seeder(app, session))
        session.commit()
    return lines


def _seeders() -> list:  # noqa: ANN401
    """The areas' demo seeders, in dependency order."""
    return []
