"""The federation's settings: off by default, refused with one line naming the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal.accounts.federation_settings import DEFAULTS, parse
from portal.config import ConfigError
from portal.permissions import Role

ON = {"FEDERATION_DISCOVERY_URL": "https://psc.example/.well-known/openid-configuration",
      "FEDERATION_CLIENT_ID": "aac-portal", "FEDERATION_CLIENT_SECRET": "s3cret"}


def _parse(**values: object):  # noqa: ANN202
    return parse({**DEFAULTS, "ENV": "testing", **values})


def test_off_by_default() -> None:
    settings = _parse()
    assert not settings.enabled
    assert settings.local_login_refused_roles == frozenset()


def test_the_pro_sante_connect_defaults() -> None:
    settings = _parse(**ON)
    assert settings.enabled
    assert settings.scopes == ("openid", "scope_all")
    assert settings.required_acr == "eidas1"
    assert settings.accepted_acr == {"eidas1", "eidas2", "eidas3"}
    assert settings.rpps_claim == "SubjectNameID"


def test_a_stronger_required_level_refuses_the_weaker_ones() -> None:
    assert _parse(**ON, FEDERATION_REQUIRED_ACR="eidas2").accepted_acr == {"eidas2", "eidas3"}


def test_roles_refused_the_local_login_are_parsed() -> None:
    settings = _parse(**ON, FEDERATION_LOCAL_LOGIN_REFUSED_ROLES="prescriber, hospital_pharmacist")
    assert settings.local_login_refused_roles == {Role.PRESCRIBER, Role.HOSPITAL_PHARMACIST}


@pytest.mark.parametrize(("values", "named"), [
    ({**ON, "FEDERATION_LOCAL_LOGIN_REFUSED_ROLES": "doctor"},
     "PORTAL_FEDERATION_LOCAL_LOGIN_REFUSED_ROLES"),
    ({"FEDERATION_LOCAL_LOGIN_REFUSED_ROLES": "prescriber"},
     "PORTAL_FEDERATION_LOCAL_LOGIN_REFUSED_ROLES"),
    ({**ON, "FEDERATION_CLIENT_ID": ""}, "PORTAL_FEDERATION_CLIENT_ID"),
    ({**ON, "FEDERATION_CLIENT_SECRET": ""}, "PORTAL_FEDERATION_CLIENT_SECRET_FILE"),
    ({**ON, "FEDERATION_DISCOVERY_URL": "psc.example"}, "PORTAL_FEDERATION_DISCOVERY_URL"),
    ({**ON, "FEDERATION_REQUIRED_ACR": "eidas9"}, "PORTAL_FEDERATION_REQUIRED_ACR"),
    ({**ON, "FEDERATION_ALGORITHMS": "RS256,HS256"}, "PORTAL_FEDERATION_ALGORITHMS"),
    ({**ON, "FEDERATION_ALGORITHMS": "none"}, "PORTAL_FEDERATION_ALGORITHMS"),
    ({**ON, "FEDERATION_TOKEN_AUTH_METHOD": "private_key_jwt"},
     "PORTAL_FEDERATION_TOKEN_AUTH_METHOD"),
    ({**ON, "FEDERATION_LEEWAY_SECONDS": -1}, "PORTAL_FEDERATION_LEEWAY_SECONDS"),
])
def test_unusable_settings_are_refused_naming_the_setting(values: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        _parse(**values)


def test_production_wants_https() -> None:
    with pytest.raises(ConfigError, match="https:// in production"):
        parse({**DEFAULTS, **ON, "ENV": "production",
               "FEDERATION_DISCOVERY_URL": "http://psc.example/.well-known/openid-configuration"})


def test_the_secret_comes_from_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "psc_secret"
    path.write_text("from-the-store\n")
    os.chmod(path, 0o400)
    settings = _parse(**{**ON, "FEDERATION_CLIENT_SECRET": ""},
                      FEDERATION_CLIENT_SECRET_FILE=str(path))
    assert settings.client_secret == "from-the-store"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 400"):
        _parse(**ON, FEDERATION_CLIENT_SECRET_FILE=str(path))


def test_the_secret_is_not_left_in_the_app_config(app_config, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    from portal import create_app
    from portal.accounts.federation_settings import settings_of

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**app_config, **ON})
    assert app.config["FEDERATION_CLIENT_SECRET"] == ""
    assert settings_of(app).client_secret == "s3cret"
