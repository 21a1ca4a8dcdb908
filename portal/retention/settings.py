"""Settings of the retention area; `init_app` refuses an archive period over 70 years (RET-04)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

#: section 9 of the referential: at most 70 years from the AAC's expiry or withdrawal
MAX_ARCHIVE_YEARS = 70

DEFAULTS: dict[str, Any] = {
    #: years an archived case is kept after its AAC ended (1 to 70)
    "RETENTION_ARCHIVE_YEARS": 70,
    #: years a case stays in the active base after its final résumé approval (referential: 2)
    "RETENTION_ACTIVE_YEARS": 2,
    #: the archive store: a separate SQLite file, or a PostgreSQL URL logging in as the
    #: archive's own role (empty: beside the SQLite database; required on PostgreSQL)
    "RETENTION_ARCHIVE_URL": "",
    #: `portal retention run --status` fails when no run succeeded within this many days
    "RETENTION_RUN_MAX_AGE_DAYS": 2,
    #: a run lock older than this many minutes belongs to a run that died: it is taken over
    "RETENTION_LOCK_STALE_MINUTES": 360,
    #: days before an AAC's end date without renewal when the prescriber is reminded
    "RETENTION_AAC_REMINDER_DAYS": 30,
    #: RET-05: accounts without linked cases are disabled after this many years unused,
    #: then deleted this many years after being disabled
    "RETENTION_ACCOUNT_DISABLE_YEARS": 2,
    "RETENTION_ACCOUNT_DELETE_YEARS": 1,
}


def init_app(app: Flask) -> None:
    """Fill the missing settings and refuse an archive period the referential forbids."""
    from portal.config import ConfigError, apply_area_defaults

    apply_area_defaults(app.config, DEFAULTS)
    years = app.config["RETENTION_ARCHIVE_YEARS"]
    if not isinstance(years, int) or isinstance(years, bool) or not (
            1 <= years <= MAX_ARCHIVE_YEARS):
        raise ConfigError(
            f"PORTAL_RETENTION_ARCHIVE_YEARS must be 1 to {MAX_ARCHIVE_YEARS} (years after the "
            f"AAC ends, referential section 9), not {years!r}."
        )
    if int(app.config["RETENTION_ACTIVE_YEARS"]) < 0:
        raise ConfigError("PORTAL_RETENTION_ACTIVE_YEARS must be 0 or more (years).")
    if not app.config["RETENTION_ARCHIVE_URL"]:
        app.config["RETENTION_ARCHIVE_URL"] = default_archive_url(
            str(app.config["DATABASE_URL"]))
    if app.config["ENV"] == "production" and (
            app.config["RETENTION_ARCHIVE_URL"] == app.config["DATABASE_URL"]):
        raise ConfigError("PORTAL_RETENTION_ARCHIVE_URL must be another store than the "
                          "active database (its own file or its own role and schema).")


def default_archive_url(database_url: str) -> str:
    """Return the archive store next to a SQLite database; on PostgreSQL, the same database.

    On PostgreSQL the archive lives in its own schema and should be reached as its own role:
    set PORTAL_RETENTION_ARCHIVE_URL to that role's URL (the default reuses the web role's, which
    then needs to have been granted the archive schema: fine for development only).
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return database_url
    base = url.database[:-3] if url.database.endswith(".db") else url.database
    return url.set(database=f"{base}-archive.db").render_as_string(hide_password=False)


def setting(app: Flask, name: str) -> Any:
    return app.config.get(name, DEFAULTS.get(name))
