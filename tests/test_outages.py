"""What the portal does when Redis or the database does not answer (README: "When something
fails"): the limits fail closed with the portal's 503 page, pages without a limit keep working,
a database outage is a 503 page on every page that needs it, and a form interrupted by it is
stored whole or not at all, the page saying which and offering to send it again.

The outages here are in-process (a closed port, a private redis-server stopped and started, a
database connection that fails at a chosen statement or commit); tests/faults does the same
against real servers restarted under load.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import MultiDict

from portal.accounts.models import UserSession
from portal.db import get_engine
from portal.permissions import Role
from portal.records.models import SubmissionRevision
from tests.conftest import POSTGRES_URL, app_database, make_test_config
from tests.helpers_auth import DEFAULT_PASSWORD, login, make_user
from tests.private_servers import PrivateRedis, redis_available
from tests.records import helpers
from tests.records.fixtures import patient, prescriber, protocol, site_a  # noqa: F401
from tests.servers import free_port

HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


def _new_app(tmp_path, key_file, monkeypatch, **overrides: Any):  # noqa: ANN001, ANN202
    from portal import create_app

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app(make_test_config(tmp_path, key_file, **overrides))


def _sessions(db) -> int:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(func.count()).select_from(UserSession))


# --- the rate-limit storage ------------------------------------------------------------------


def test_an_unreachable_limit_store_refuses_logins_and_serves_the_rest(
        tmp_path, key_file, monkeypatch, postgres_schema) -> None:  # noqa: ANN001
    with app_database(_new_app(tmp_path, key_file, monkeypatch, RATELIMIT_STORAGE_URI=(
            f"redis://127.0.0.1:{free_port()}/0"))) as app:
        _limits_refused(app)


def _limits_refused(app) -> None:  # noqa: ANN001
    client = app.test_client()
    refused = client.post("/login", data={"login": "c.martin", "password": "x"})
    assert refused.status_code == 503
    page = refused.get_data(as_text=True)
    assert "Logging in is unavailable for a few minutes" in page
    assert "Reference to give the support team" in page and 'class="site-header"' in page
    assert refused.headers["Retry-After"] == "60"
    assert "Traceback" not in page
    # The second factor is guarded the same way (its limit is counted before the view).
    assert client.post("/login/code", data={"code": "123456"}).status_code == 503
    # Nothing that needs no limit is refused.
    assert client.get("/login").status_code == 200
    assert client.get("/").status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_data(as_text=True) == (
        "ok\nrate-limit storage unavailable: logins refused\n")


def test_the_limit_outage_page_is_in_french(tmp_path, key_file, monkeypatch,  # noqa: ANN001
                                            postgres_schema) -> None:
    with app_database(_new_app(tmp_path, key_file, monkeypatch, BABEL_DEFAULT_LOCALE="fr",
                               RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")
                      ) as app:
        page = app.test_client().post("/login", data={"login": "a", "password": "b"},
                                      headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "La connexion est indisponible pour quelques minutes" in page


@pytest.mark.slow
@pytest.mark.skipif(not redis_available(), reason="redis-server is not installed")
def test_logins_stop_while_redis_is_down_and_resume_when_it_is_back(
        tmp_path, key_file, monkeypatch, postgres_schema) -> None:  # noqa: ANN001
    with PrivateRedis() as redis, app_database(_new_app(
            tmp_path, key_file, monkeypatch, RATELIMIT_STORAGE_URI=redis.url)) as app:
        from portal.db import new_session

        db = new_session(app)
        person = make_user(db, "c.martin", role=Role.PRESCRIBER)
        logged_in = app.test_client()
        login(logged_in, person)
        assert logged_in.get("/account").status_code == 200
        before = _sessions(db)

        redis.stop()
        other = app.test_client()
        for _attempt in range(3):
            response = other.post("/login", data={"login": person.login,
                                                  "password": DEFAULT_PASSWORD})
            assert response.status_code == 503
        assert _sessions(db) == before  # nobody got in without the limit
        assert logged_in.get("/account").status_code == 200  # sessions live in the database
        assert "rate-limit storage unavailable" in other.get("/healthz").get_data(as_text=True)

        redis.start()  # same port, empty: the portal reconnects on its own
        response = other.post("/login", data={"login": person.login,
                                              "password": DEFAULT_PASSWORD})
        assert response.status_code == 302
        assert other.get("/healthz").get_data(as_text=True) == "ok\n"
        db.close()


# --- the database ----------------------------------------------------------------------------


def test_every_page_answers_503_with_the_portal_page_when_the_database_is_down(
        tmp_path, key_file, monkeypatch) -> None:  # noqa: ANN001
    closed = free_port()
    app = _new_app(tmp_path, key_file, monkeypatch, DATABASE_URL=(
        f"postgresql+psycopg://postgres@127.0.0.1:{closed}/portal"))
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["sid"] = "a session the database would know"  # a logged-in person's cookie
    for method, path in (("GET", "/account"), ("GET", "/patients"), ("GET", "/rights/ask"),
                         ("POST", "/login"), ("GET", "/jobs/")):
        response = client.open(path, method=method, data={"login": "x", "password": "y"})
        page = response.get_data(as_text=True)
        assert response.status_code == 503, (path, response.status_code)
        assert "cannot reach its database" in page or "could not reach its database" in page
        assert 'class="site-header"' in page and "Reference to give" in page, path
        assert response.headers["Retry-After"] == "30"
        assert "Traceback" not in page and "OperationalError" not in page
    health = app.test_client().get("/healthz")  # a load balancer sends no cookie
    assert (health.status_code, health.get_data(as_text=True)) == (
        503, "database unavailable\n")


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (PORTAL_TEST_DATABASE_URL)")
def test_connections_cut_by_the_server_are_replaced_without_an_error(app, db, client) -> None:  # noqa: ANN001
    """What a PostgreSQL restart does to the pool: every connection it held is dead."""
    person = make_user(db, "c.martin", role=Role.PRESCRIBER)
    login(client, person)
    assert client.get("/account").status_code == 200
    db.rollback()
    with get_engine(app).connect() as killer:
        ended = killer.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = ''")).scalar()
        killer.commit()
    assert ended >= 1
    assert client.get("/account").status_code == 200


class Cut:
    """A database connection that breaks at a chosen point of a request and stays broken.

    `at="insert"`: before the form's revision is written (nothing reaches the database);
    `at="commit"`: the COMMIT is lost on the way; `at="after_commit"`: the COMMIT reached the
    server, its answer is lost. Every statement after the break fails too, as in an outage.
    """

    def __init__(self, app, at: str) -> None:  # noqa: ANN001
        self.engine = get_engine(app)
        self.at = at
        self.armed = False
        self.broken = False

    def _fail(self) -> None:
        self.broken = True
        raise OperationalError("(fault)", {}, ConnectionError("server closed the connection"))

    def _statement(self, _conn, _cursor, statement: str, *_args: Any) -> None:  # noqa: ANN001
        if self.broken:
            self._fail()
        if self.armed and self.at == "insert" and statement.lstrip().upper().startswith(
                "INSERT INTO SUBMISSION_REVISION"):
            self._fail()

    def _commit(self, _conn) -> None:  # noqa: ANN001
        if self.broken:
            self._fail()
        if self.armed and self.at == "commit":
            self._fail()

    def __enter__(self) -> Cut:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        if self.at == "after_commit":
            dialect = self.engine.dialect
            original = dialect.do_commit

            def commit_then_break(connection: Any) -> None:
                original(connection)
                if self.armed and not self.broken:
                    self._fail()

            self._original = original
            dialect.do_commit = commit_then_break  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)
        if self.at == "after_commit":
            self.engine.dialect.do_commit = self._original  # type: ignore[method-assign]
        # The connections that "broke" are healthy: the pool may keep them.


def _revisions(db) -> int:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(func.count()).select_from(SubmissionRevision))


def _open_form(client, path: str) -> dict[str, str]:  # noqa: ANN001
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page)
    assert token, page[:500]
    return {"token": token.group(1), "version": "", "action": "submit"}


@pytest.fixture
def form_post(app, db, client, prescriber, patient) -> Iterator[tuple[str, dict[str, Any]]]:  # noqa: ANN001, F811
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/adverse_event"
    data = {**helpers.form_data(helpers.adverse_event_answers(), "adverse_event", db),
            **_open_form(client, path)}
    db.rollback()
    yield path, data


@pytest.mark.parametrize("at, says", [
    ("insert", "nothing of what you sent was saved"),
    ("commit", "it may or may not have been saved"),
    ("after_commit", "it may or may not have been saved"),
])
def test_a_form_cut_by_an_outage_is_stored_whole_or_not_at_all_and_sent_again_once(
        app, db, client, form_post, at: str, says: str) -> None:  # noqa: ANN001
    path, data = form_post
    stored_before = _revisions(db)
    with Cut(app, at) as cut:
        cut.armed = True
        response = client.post(path, data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert says in page and "Traceback" not in page
    # All or nothing: the revision and its audit entry went together.
    stored = _revisions(db) - stored_before
    assert stored == (1 if at == "after_commit" else 0)
    # The page keeps everything that was typed, to send again as it was (same token).
    kept = MultiDict([(name, html.unescape(value)) for name, value in HIDDEN.findall(page)])
    assert dict(kept)["token"] == data["token"]
    assert set(kept) >= set(data)
    resent = client.post(path, data=kept)
    assert resent.status_code == 303
    followed = client.get(resent.headers["Location"]).get_data(as_text=True)
    if at == "after_commit":
        assert "This form was already saved." in followed
    else:
        assert "Form submitted." in followed
    assert _revisions(db) - stored_before == 1
    # A third send changes nothing either.
    assert client.post(path, data=kept).status_code == 303
    assert _revisions(db) - stored_before == 1
    from portal.audit.verify import verify

    assert verify(db).ok


def test_an_outage_page_after_a_login_post_does_not_carry_the_password(
        app, client, monkeypatch) -> None:  # noqa: ANN001
    with Cut(app, "insert") as cut:
        cut.broken = True  # the database is gone from the first statement
        page = client.post("/login", data={"login": "c.martin",
                                           "password": DEFAULT_PASSWORD}).get_data(as_text=True)
    assert "could not reach its database" in page
    assert DEFAULT_PASSWORD not in page and "Send again" not in page


def test_a_policy_that_meets_an_outage_answers_503_not_a_refusal(
        app, client, prescriber, patient, monkeypatch) -> None:  # noqa: ANN001, F811
    """The access and records policies fail closed on any error; an outage still grants
    nothing, but the person is told to try again rather than that access is refused."""
    login(client, prescriber)

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr("portal.access.policy.valid_grants", down)
    response = client.get(f"/patients/{patient.handle}")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "cannot reach its database" in page and "ZQX-WK" not in page


def test_redis_lost_between_the_check_and_the_count_of_a_failure_is_a_503(
        app, db, client, monkeypatch) -> None:  # noqa: ANN001
    """A failed login is counted after the view (Flask-Limiter's after_request): Redis gone by
    then answers the same 503 page, not a 500 (outside tests, where errors propagate)."""
    from redis.exceptions import ConnectionError as RedisDown

    from portal.extensions import limiter

    make_user(db, "c.martin", role=Role.PRESCRIBER)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production

    def down(*_args: Any, **_kwargs: Any) -> bool:
        raise RedisDown("Connection refused")

    monkeypatch.setattr(limiter.limiter, "hit", down)
    response = client.post("/login", data={"login": "c.martin", "password": "wrong"})
    assert response.status_code == 503
    assert "Logging in is unavailable" in response.get_data(as_text=True)


def test_a_connection_lost_after_the_page_was_made_does_not_turn_it_into_a_500(
        app, db, client, prescriber, patient, monkeypatch) -> None:  # noqa: ANN001, F811
    """A database restart between the view's commit and the end of the request: closing the
    request's session rolls back on a dead connection. The page already made stands (its read
    was logged at the view's commit) and the next request gets a fresh connection."""
    login(client, prescriber)
    path = f"/patients/{patient.handle}/forms/adverse_event"
    dialect = get_engine(app).dialect
    original = dialect.do_rollback
    failed: list[str] = []

    def rollback_on_a_dead_connection(connection: Any) -> None:
        failed.append("rollback")
        raise OperationalError("ROLLBACK", {}, ConnectionError("terminating connection due to "
                                                               "administrator command"))

    monkeypatch.setattr(dialect, "do_rollback", rollback_on_a_dead_connection)
    try:
        response = client.get(path)
    finally:
        monkeypatch.setattr(dialect, "do_rollback", original)
    assert failed, "the request ended without a rollback: the fault was not met"
    assert response.status_code == 200
    assert 'name="token"' in response.get_data(as_text=True)
    assert client.get(path).status_code == 200
