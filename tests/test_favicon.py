"""Browsers ask for /favicon.ico on every site: the portal answers with its icon."""

from __future__ import annotations

from portal.config import PROJECT_ROOT


def test_favicon_answers_with_the_portal_icon(client) -> None:  # noqa: ANN001
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert response.data == (PROJECT_ROOT / "static" / "favicon.ico").read_bytes()


def test_every_page_points_at_the_icon(client) -> None:  # noqa: ANN001
    page = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico">' in page
