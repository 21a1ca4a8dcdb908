"""The authorizer's order and the gates other areas register (e.g. the first-login notice)."""

from __future__ import annotations

from flask import Flask, url_for
from sqlalchemy import select

from portal.accounts.actions import AccountAction
from portal.accounts.authorization import register_gate
from portal.audit.models import AuditEvent
from portal.permissions import Permission, Role, requires
from tests.helpers_auth import login, make_user


def _pages(app: Flask, seen: list[str]) -> None:
    @app.get("/_t/inside")
    @requires(Permission.SESSION_USE)
    def inside() -> str:
        return "inside"

    @app.get("/_t/notice")
    @requires(Permission.SESSION_USE)
    def notice() -> str:
        return "the notice"

    @app.post("/_t/notice/read")
    @requires(Permission.SESSION_USE)
    def notice_read() -> str:
        seen.append("read")
        return "thanks"

    @app.get("/_t/admin-only")
    @requires(Permission.USER_ADMIN)
    def admin_only() -> str:
        return "admin"

    def gate(user):  # noqa: ANN001, ANN202
        return None if seen else url_for("notice", next="/somewhere")

    register_gate(app, gate, exempt_endpoints=("notice_read",))


def test_a_gate_comes_before_any_page_but_not_its_own(app, db) -> None:  # noqa: ANN001
    seen: list[str] = []
    _pages(app, seen)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = app.test_client()
    login(client, user)
    assert client.get("/_t/inside").headers["Location"] == "/_t/notice?next=/somewhere"
    assert client.get("/account").headers["Location"].startswith("/_t/notice")
    assert client.get("/_t/notice").get_data(as_text=True) == "the notice"
    assert client.post("/_t/notice/read").get_data(as_text=True) == "thanks"
    assert client.get("/_t/inside").status_code == 200


def test_gates_never_block_logout_nor_a_forced_password_change(app, db, runner) -> None:  # noqa: ANN001
    seen: list[str] = []
    _pages(app, seen)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    runner.invoke(args=["users", "force-change", "c.martin"])
    client = app.test_client()
    login(client, user)
    # The forced change comes first; its form is reachable although the gate is not passed.
    assert client.get("/_t/inside").headers["Location"] == "/account/password"
    assert client.get("/_t/notice").headers["Location"] == "/account/password"
    assert client.get("/account/password").status_code == 200
    assert client.post("/logout").headers["Location"] == "/login"


def test_a_gate_does_not_bypass_the_permission_check(app, db) -> None:  # noqa: ANN001
    seen: list[str] = ["read"]
    _pages(app, seen)
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = app.test_client()
    login(client, user)
    assert client.get("/_t/admin-only").status_code == 403
    event = db.scalars(select(AuditEvent).where(
        AuditEvent.action == AccountAction.PERMISSION_DENIED)).one()
    assert event.details == {"endpoint": "admin_only", "missing": "accounts:user:admin",
                             "reason": "missing_permission"}


def test_a_person_without_any_grant_is_refused_everywhere_but_public_pages(app, db) -> None:  # noqa: ANN001
    seen: list[str] = ["read"]
    _pages(app, seen)
    user = make_user(db, "c.martin")
    client = app.test_client()
    login(client, user)
    assert client.get("/_t/inside").status_code == 403
    assert client.get("/account").status_code == 403
    assert client.get("/").status_code == 200
