"""AAC Portal: follow-up of patients treated under a French compassionate access authorization."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.config import PROJECT_ROOT, ConfigError

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app", "ConfigError"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal: configuration, extensions, areas, error handlers, CLI."""
    # Imported here, not at the top: `import portal` is what every `portal` command pays
    # before it runs, and `portal --help` needs none of this (issue 23).
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from portal import clock
    from portal.config import development_secret, load_config, validate

    instance_path = Path(
        os.environ.get("PORTAL_INSTANCE_PATH", str(PROJECT_ROOT / "instance"))
    ).resolve()
    # The instance folder holds the database, the secret and the outbox: the owner's only.
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    config = load_config(instance_path, os.environ, test_config)
    validate(config)
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = development_secret(instance_path)
    app.config.update(config)
    clock.follow_test_start(os.environ, app.config["ENV"])
    _create_sqlite_file(str(config["DATABASE_URL"]))

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    _init_extensions(app)
    _register_areas(app)

    from portal import errors, permissions

    errors.init_app(app)
    permissions.init_app(app)
    _check_keys(app)
    return app


def _create_sqlite_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only, before SQLite opens it.

    SQLite would create it with the process umask (often world-readable), and it gives the
    -wal and -shm files the mode of the database file: creating this one 0600 covers all three.
    An existing file is left as it is, except that group and other lose their access to it.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # the engine reports a malformed URL itself
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or (
            database.startswith("file:")):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # the database is unreachable; /healthz says so
    for existing in (path, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if existing.exists() and existing.stat().st_mode & 0o077:
            existing.chmod(existing.stat().st_mode & 0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _add_favicon(app: Flask) -> None:
    """Answer /favicon.ico, which browsers ask for on their own, with the portal's icon."""
    from flask import send_from_directory

    from portal.permissions import public

    @app.get("/favicon.ico")
    @public
    def favicon():  # noqa: ANN202
        return send_from_directory(str(app.static_folder), "favicon.ico",
                                   mimetype="image/vnd.microsoft.icon", max_age=86400)


def _check_keys(app: Flask) -> None:
    from sqlalchemy.exc import OperationalError

    from portal.db import new_session
    from portal.sealing import check_keys_against_database

    try:
        with new_session(app) as session:
            check_keys_against_database(session, app.extensions["portal.keys"])
    except OperationalError as exc:
        # The database may come up after the app (see /healthz); the check runs at next start.
        app.logger.warning("key check skipped, database unavailable: %s", exc.orig)


def _init_extensions(app: Flask) -> None:
    from portal import db, i18n, keys, navigation, rate_limits, security
    from portal.extensions import babel, csrf, limiter, login_manager

    keys.init_app(app)
    db.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    csrf.init_app(app)
    rate_limits.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    # Until the accounts area installs its loader, nobody is logged in.
    login_manager.request_loader(lambda _request: None)
    i18n.init_app(app)
    security.init_app(app)
    navigation.init_app(app)


def _register_areas(app: Flask) -> None:
    import importlib
    import importlib.util

    from portal.areas import AREAS
    from portal.commands import register_commands
    from portal.home.routes import bp as home_bp

    app.register_blueprint(home_bp)
    _add_favicon(app)
    for area in AREAS:
        if importlib.util.find_spec(f"portal.{area}") is None:
            continue
        module = importlib.import_module(f"portal.{area}")
        init = getattr(module, "init_app", None)
        if init is not None:
            init(app)
    register_commands(app)
