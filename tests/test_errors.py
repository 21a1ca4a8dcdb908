"""One error path: every error status is a localised page, never a traceback."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from sqlalchemy import select

from portal import create_app
from portal.db import get_session, new_session
from portal.errors import BadRequest, RateLimited
from portal.permissions import public
from portal.sealing import KeyCheck

TITLES = {
    400: ("La demande n'a pas pu être comprise", "The request could not be understood"),
    403: ("Accès refusé", "Access refused"),
    404: ("Page introuvable", "Page not found"),
    405: ("Méthode non autorisée", "Method not allowed"),
    413: ("Demande trop volumineuse", "Request too large"),
    429: ("Trop de tentatives", "Too many attempts"),
    500: ("Erreur interne", "Internal error"),
}


@pytest.fixture
def app(app_config, tmp_path, postgres_schema, monkeypatch):  # noqa: ANN001, ANN201
    """The test app plus routes that fail in each way."""
    from tests.conftest import app_database

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app_config["MAX_CONTENT_LENGTH"] = 1024
    application = create_app(app_config)

    @application.get("/boom/400")
    @public
    def bad() -> str:
        raise BadRequest()

    @application.get("/boom/403")
    def undeclared() -> str:  # no declaration: refused by default
        return "never"

    @application.get("/boom/429")
    @public
    def limited() -> str:
        raise RateLimited()

    @application.post("/boom/413")
    @public
    def upload() -> str:
        from flask import request

        return str(len(request.form))

    @application.post("/boom/500")
    @public
    def crash() -> str:
        session = get_session()
        session.add(KeyCheck(key_id="written-then-crash", check_value="x"))
        session.flush()
        raise RuntimeError("database password is hunter2")

    with app_database(application):
        yield application


def _request(client, status: int, lang: str):  # noqa: ANN001, ANN202
    headers = {"Accept-Language": lang}
    if status == 404:
        return client.get("/no/such/page", headers=headers)
    if status == 405:
        return client.post("/healthz", headers=headers)
    if status == 413:
        return client.post("/boom/413", data={"x": "y" * 5000}, headers=headers)
    if status == 500:
        return client.post("/boom/500", headers=headers)
    return client.get(f"/boom/{status}", headers=headers)


@pytest.mark.parametrize("status", sorted(TITLES))
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_error_page_has_status_and_localised_title(app: Flask, status: int, lang: str) -> None:
    response = _request(app.test_client(), status, lang)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    title = TITLES[status][0 if lang == "fr" else 1]
    assert f"<h1>{title}</h1>" in body.replace("&#39;", "'")
    assert "Traceback" not in body and "hunter2" not in body


def _reference(body: str) -> str:
    found = re.search(r"Reference to give the support team: ([0-9a-f]{12})<", body)
    assert found, body
    return found.group(1)


def test_a_500_page_shows_a_reference_the_operator_finds_in_the_log(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="portal.errors"):
        first = client.post("/boom/500", headers={"Accept-Language": "en"})
        second = client.post("/boom/500", headers={"Accept-Language": "en"})
    body = first.get_data(as_text=True)
    reference = _reference(body)
    assert reference != _reference(second.get_data(as_text=True))
    assert "hunter2" not in body and "RuntimeError" not in body
    lines = [record for record in caplog.records if reference in record.getMessage()]
    assert len(lines) == 1
    assert "500" in lines[0].getMessage() and "/boom/500" in lines[0].getMessage()
    # The log line, not the page, holds what the operator needs to find the cause.
    assert lines[0].exc_info is not None
    assert "hunter2" in str(lines[0].exc_info[1])


@pytest.mark.parametrize("status", [403, 404])
def test_a_refusal_page_shows_a_reference_found_in_the_log(
    app: Flask, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    with caplog.at_level(logging.INFO, logger="portal.errors"):
        response = _request(app.test_client(), status, "en")
    reference = _reference(response.get_data(as_text=True))
    assert [r for r in caplog.records
            if reference in r.getMessage() and f"error {status}" in r.getMessage()]


def test_a_500_rolls_back_what_the_request_wrote(app: Flask) -> None:
    assert app.test_client().post("/boom/500").status_code == 500
    with new_session(app) as session:
        written = select(KeyCheck).where(KeyCheck.key_id == "written-then-crash")
        assert session.scalar(written) is None


def test_a_nul_character_anywhere_is_a_400_page(app: Flask) -> None:
    client = app.test_client()
    for response in (client.get("/notices/pat%00ient"), client.get("/notices/?q=a%00b"),
                     client.post("/login", data={"login": "c.martin\x00"})):
        assert response.status_code == 400
        assert "The request could not be understood" in response.get_data(as_text=True)


def test_an_id_no_row_can_have_is_a_404_page_before_any_query(app: Flask) -> None:
    from portal.security import MAX_ROW_ID

    client = app.test_client()
    for number in (0, MAX_ROW_ID + 1, 2**64):
        response = client.get(f"/notices/patient/v{number}")
        assert response.status_code == 404
        assert "Page not found" in response.get_data(as_text=True)
