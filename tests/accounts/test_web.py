"""Browser-facing rules of the accounts pages: POST forms, CSRF, clean URLs (SEC-WEB-1 to 4)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import event

from portal.db import get_engine
from portal.permissions import Role
from tests.helpers_auth import DEFAULT_PASSWORD, csrf_token, login, make_user, outbox, totp_code

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


class Forms(HTMLParser):
    """Collect each <form>'s method and whether it holds a password input."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self._open: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._open = {"method": values.get("method", "get").lower(), "password": False}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and \
                values.get("type", "").lower() == "password":
            self._open["password"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def forms_of(html: str) -> list[dict[str, object]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def test_every_template_form_with_a_password_is_posted() -> None:
    """SEC-WEB-4 lint over every template of the portal (any area)."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text()
        for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", source, re.S | re.I):
            tag = match.group(0)[: match.group(0).index(">") + 1]
            holds_password = re.search(r'type=["\']?password', match.group(1), re.I) or \
                "password" in match.group(1).lower() and "render_" in match.group(1)
            if holds_password and not re.search(r'method=["\']?post', tag, re.I):
                offenders.append(str(path.relative_to(TEMPLATES)))
    # The form macro used for password forms posts.
    macro = (TEMPLATES / "_macros" / "forms.html").read_text()
    assert '<form method="post"' in macro
    assert offenders == []


def test_rendered_account_pages_post_every_form(app, db) -> None:  # noqa: ANN001
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    anonymous = app.test_client()
    pages = [anonymous.get("/login").get_data(as_text=True)]
    client = app.test_client()
    login(client, admin)
    for path in ("/account", "/account/password", "/account/recovery-codes", "/admin/users/",
                 "/admin/users/new"):
        response = client.get(path)
        assert response.status_code == 200, path
        pages.append(response.get_data(as_text=True))
    found = [form for page in pages for form in forms_of(page)]
    assert any(form["password"] for form in found)
    assert all(form["method"] == "post" for form in found), found


def test_account_urls_carry_no_identifier(app) -> None:  # noqa: ANN001
    """SEC-WEB-4: only the mailed link has a variable, and it leaves the address at once."""
    variable = {rule.rule for rule in app.url_map.iter_rules()
                if rule.endpoint.split(".")[0] in {"accounts", "users"} and rule.arguments}
    assert variable == {"/activate/<token>"}


def test_no_personal_value_or_secret_reaches_an_address(app, db) -> None:  # noqa: ANN001
    """The whole journey of a new account leaves only clean paths in an access log."""
    seen: list[str] = []
    inner = app.wsgi_app

    def logging_app(environ, start_response):  # noqa: ANN001, ANN202
        query = environ.get("QUERY_STRING", "")
        seen.append(environ["PATH_INFO"] + ("?" + query if query else ""))
        return inner(environ, start_response)

    app.wsgi_app = logging_app
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    client = app.test_client()
    login(client, admin)
    client.post("/admin/users/new", data={
        "login": "j.lefebvre", "first_name": "Julien", "last_name": "Lefebvre",
        "email": "j.lefebvre@example.org", "rpps": "10009876540"})
    body = outbox(app)[-1].get_body().get_content()
    link = re.search(r"(/activate/[A-Za-z0-9_-]+)", body).group(1)
    newcomer = app.test_client()
    newcomer.get(link)
    newcomer.post("/activate", data={"new_password": "Tq7!vLm#2xRp",
                                     "confirm": "Tq7!vLm#2xRp"})
    from portal.accounts.services import user_by_login
    db.expire_all()
    person = user_by_login(db, "j.lefebvre")
    newcomer.post("/login/enrol", data={"code": totp_code(app, person)})
    newcomer.get("/account")
    newcomer.post("/logout")
    log = "\n".join(seen)
    for value in ("h.petit", "j.lefebvre", "Lefebvre", "Julien", "example.org", "10009876540",
                  DEFAULT_PASSWORD, "Tq7!vLm#2xRp"):
        assert value not in log, value
    token = link.rsplit("/", 1)[1]
    assert sum(token in line for line in seen) == 1  # the mailed link itself, redirected at once


@pytest.fixture
def csrf_app(app):  # noqa: ANN001, ANN201
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_every_account_post_needs_a_csrf_token(csrf_app, db) -> None:  # noqa: ANN001
    """SEC-WEB-1, logout included."""
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    client = csrf_app.test_client()
    login(client, admin)
    posts = [rule.rule for rule in csrf_app.url_map.iter_rules()
             if rule.endpoint.split(".")[0] in {"accounts", "users"}
             and "POST" in (rule.methods or ())]
    assert len(posts) >= 10
    for path in posts:
        if "<" in path:
            continue
        response = client.post(path, data={"user_id": str(admin.id), "code": "123456"})
        assert response.status_code == 400, path
    # Still logged in: the refused logout did nothing.
    assert client.get("/account").status_code == 200


def test_the_login_form_checks_the_referer_over_https(csrf_app, db) -> None:  # noqa: ANN001
    """SEC-WEB-2: a valid token with a foreign Referer is refused; same origin passes."""
    make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = csrf_app.test_client()
    base = "https://portal.example"
    page = client.get("/login", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = {"login": "c.martin", "password": DEFAULT_PASSWORD, "csrf_token": token}
    foreign = client.post("/login", data=data, base_url=base,
                          headers={"Referer": "https://evil.example/login"})
    assert foreign.status_code == 400
    same = client.post("/login", data=data, base_url=base,
                       headers={"Referer": base + "/login"})
    assert same.status_code == 302


def test_login_rotates_the_csrf_token(csrf_app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = csrf_app.test_client()
    before = csrf_token(client, "/login")
    login(client, user)
    page = client.get("/account/password").get_data(as_text=True)
    after = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert after != before["csrf_token"]
    # The pre-login token is refused once logged in.
    response = client.post("/logout", data=before)
    assert response.status_code == 400


def test_get_pages_of_the_area_write_nothing(app, db) -> None:  # noqa: ANN001
    """SEC-WEB-1: GET does not change the database."""
    admin = make_user(db, "h.petit", role=Role.ADMINISTRATOR)
    newcomer = make_user(db, "c.martin", enrolled=False)
    client = app.test_client()
    login(client, admin)
    other = app.test_client()
    other.post("/login", data={"login": newcomer.login, "password": DEFAULT_PASSWORD})
    writes: list[str] = []

    def spy(conn, cursor, statement, *args):  # noqa: ANN001, ANN002, ANN202
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", spy)
    try:
        for path in ("/login", "/account", "/account/password", "/account/recovery-codes",
                     "/admin/users/", "/admin/users/new", "/activate", "/"):
            client.get(path)
        for path in ("/login/enrol", "/login/code", "/login/recovery"):
            other.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert writes == []


def test_account_pages_are_never_cached(app, db) -> None:  # noqa: ANN001
    user = make_user(db, "c.martin", role=Role.PRESCRIBER, enrolled=False)
    client = app.test_client()
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD})
    assert client.get("/login/enrol").headers["Cache-Control"] == "no-store"
    codes = client.post("/login/enrol", data={"code": totp_code(app, user)})
    assert codes.headers["Cache-Control"] == "no-store"


def test_security_headers_on_the_login_steps_over_https(app, db) -> None:  # noqa: ANN001
    """SEC-WEB-3 on this area's pages (the headers themselves come from portal.security)."""
    user = make_user(db, "c.martin", role=Role.PRESCRIBER)
    client = app.test_client()
    base = "https://portal.example"
    first = client.get("/login", base_url=base)
    client.post("/login", data={"login": user.login, "password": DEFAULT_PASSWORD},
                base_url=base)
    second = client.get("/login/code", base_url=base)
    for response in (first, second):
        headers = response.headers
        assert "max-age=31536000" in headers["Strict-Transport-Security"]
        assert "includeSubDomains" in headers["Strict-Transport-Security"]
        for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                          "frame-ancestors 'none'"):
            assert directive in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] in {"same-origin", "strict-origin-when-cross-origin"}
        assert headers["Cache-Control"] == "no-store"
