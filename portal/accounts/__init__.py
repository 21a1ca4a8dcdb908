"""Nominative accounts, strong authentication and server-side sessions (SEC-AUT, SEC-SES)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import session as flask_session
from flask_babel import lazy_gettext as _l


def _user_from_request(_request: Any) -> Any:
    """Flask-Login request loader: only a session that passed both factors authenticates."""
    from portal.accounts import sessions

    state = sessions.load_state()
    return state.user if state.full else None


def init_app(app: Flask) -> None:
    """Wire the accounts area: session loader, authorizer, pages, `portal users`, menu."""
    from portal.accounts import (
        admin,
        authorization,
        federation_routes,
        federation_settings,
        hash_budget,
        hashing,
        origins,
        routes,
        services,
        sessions,
    )
    from portal.accounts.cli import users_cli
    from portal.audit.lookups import register_person_lookup
    from portal.extensions import login_manager
    from portal.navigation import NavEntry, add_menu_entry
    from portal.permissions import Permission

    hashing.check_profile(app)
    register_person_lookup(app, services.user_id_of_login)
    hash_budget.init_app(app)
    federation_settings.init_app(app)
    # Flask-Login's own session bookkeeping would rewrite the cookie on every request; the
    # server-side record does the protecting. No remember-me cookie is ever set (SEC-SES-4).
    app.config["SESSION_PROTECTION"] = None
    login_manager.request_loader(_user_from_request)
    app.extensions["portal.forget_request_state"] = sessions.forget_state

    @app.before_request
    def _load_session() -> None:
        # Early, so that audit entries of every request carry the session hash.
        if sessions.SESSION_KEY in flask_session:
            sessions.load_state()

    # Where people may connect from (12.4): after the session is loaded, before any page.
    origins.init_app(app)
    authorization.init_app(app)
    assert federation_routes.bp is routes.bp  # its pages are on the accounts blueprint
    app.register_blueprint(routes.bp)
    app.register_blueprint(admin.bp)
    app.cli.add_command(users_cli)
    add_menu_entry(app, NavEntry("users.list_users", _l("Users"), Permission.USER_ADMIN))


def register_gate(app: Flask, gate: Any, *, exempt_endpoints: tuple[str, ...] = ()) -> None:
    """Add a first-page gate; see `portal.accounts.authorization.register_gate`."""
    from portal.accounts.authorization import register_gate as register

    register(app, gate, exempt_endpoints=exempt_endpoints)
