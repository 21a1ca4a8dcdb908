"""Demo data: a nominative fictitious team and the demo protocol, created idempotently."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from flask import Flask
from sqlalchemy.orm import Session

from portal.db import new_session


def seed(app: Flask) -> list[str]:
    """Seed the demo data (twice is the same as once) and return what was created."""
    lines = [f"Database ready: {app.config['DATABASE_URL']}"]
    with new_session(app) as session:
        for seeder in _seeders():
            lines.extend(seeder(app, session))
        session.commit()
    return lines


def _seeders() -> list[Callable[[Flask, Session], list[str]]]:
    """The areas' demo seeders (`portal.<area>.demo.seed_demo`), in dependency order.

    The audit seeder runs the anomaly checks, so it comes last: over what the others wrote.
    """
    from portal.areas import AREAS

    seeders = []
    for area in [a for a in AREAS if a != "audit"] + ["audit"]:
        if importlib.util.find_spec(f"portal.{area}") is None:
            continue
        if importlib.util.find_spec(f"portal.{area}.demo") is None:
            continue
        seeders.append(importlib.import_module(f"portal.{area}.demo").seed_demo)
    return seeders
