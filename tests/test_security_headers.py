"""Security baseline on every response."""

from flask import Flask


def test_baseline_headers_on_pages_and_errors(client) -> None:  # noqa: ANN001
    for path in ("/", "/no/such/page", "/healthz"):
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == (
            "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_hsts_only_over_https(client) -> None:  # noqa: ANN001
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://portal.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_no_external_resource_in_the_layout(client) -> None:  # noqa: ANN001
    body = client.get("/").get_data(as_text=True)
    assert "http://" not in body.replace('http://www.w3.org', '')
    assert "https://" not in body
    assert 'class="skip-link" href="#main"' in body


def test_csrf_protection_is_global(app: Flask) -> None:
    from flask_wtf.csrf import CSRFProtect

    assert isinstance(app.extensions["csrf"], CSRFProtect)


def test_home_sets_no_cookie(client) -> None:  # noqa: ANN001
    assert "Set-Cookie" not in client.get("/").headers


def test_language_switch_and_accept_language(app, client) -> None:  # noqa: ANN001
    app.config["BABEL_DEFAULT_LOCALE"] = "fr"  # the portal's own default
    assert "Suivi des patients" in client.get("/").get_data(as_text=True)
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Follow-up of patients" in english.get_data(as_text=True)
    switched = client.get("/language/en?next=/")
    assert switched.status_code == 302 and switched.headers["Location"] == "/"
    assert "Follow-up of patients" in client.get("/").get_data(as_text=True)


def test_language_switch_never_redirects_off_site(client) -> None:  # noqa: ANN001
    response = client.get("/language/en?next=https://evil.example/")
    assert response.headers["Location"] == "/"
    response = client.get("/language/en?next=//evil.example/")
    assert response.headers["Location"] == "/"
