"""Deny by default: every endpoint declares a permission or is explicitly public."""

from flask import Flask

from portal.permissions import declared_access


def test_every_endpoint_declares_its_access(app: Flask) -> None:
    undeclared = [
        f"{rule.rule} -> {rule.endpoint}"
        for rule in app.url_map.iter_rules()
        if declared_access(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == [], "endpoints with neither @requires nor @public: " + ", ".join(
        undeclared
    )


def test_an_undeclared_view_is_refused_at_request_time(app_config, tmp_path, monkeypatch) -> None:
    from portal import create_app

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app(app_config)

    @application.get("/forgotten")
    def forgotten() -> str:
        return "secret data"

    response = application.test_client().get("/forgotten")
    assert response.status_code == 403
    assert b"secret data" not in response.data


def test_a_view_requiring_a_permission_is_refused_to_an_anonymous_visitor(
    app_config, tmp_path, monkeypatch
) -> None:
    from portal import create_app
    from portal.permissions import Permission, requires

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app(app_config)

    @application.get("/records-demo")
    @requires(Permission.PATIENT_READ)
    def records_demo() -> str:
        return "patient data"

    response = application.test_client().get("/records-demo")
    assert response.status_code in (302, 401, 403)
    assert b"patient data" not in response.data
