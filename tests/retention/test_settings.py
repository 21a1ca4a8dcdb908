"""RET-04: the archive period is capped at 70 years, in code, at start-up."""

from __future__ import annotations

from datetime import date

import pytest

from portal import ConfigError, create_app
from portal.retention.dates import add_years


@pytest.mark.parametrize("years", [71, 0, "70"])
def test_an_archive_period_outside_1_to_70_years_refuses_to_start(app_config, years) -> None:
    app_config["RETENTION_ARCHIVE_YEARS"] = years
    with pytest.raises(ConfigError, match="PORTAL_RETENTION_ARCHIVE_YEARS must be 1 to 70"):
        create_app(app_config)


def test_71_years_from_the_environment_refuses_to_start(app_config, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_RETENTION_ARCHIVE_YEARS", "71")
    app_config.pop("RETENTION_ARCHIVE_YEARS", None)
    with pytest.raises(ConfigError, match="not 71"):
        create_app(app_config)


def test_70_years_starts(app_config) -> None:
    app_config["RETENTION_ARCHIVE_YEARS"] = 70
    assert create_app(app_config).config["RETENTION_ARCHIVE_YEARS"] == 70


def test_29_february_plus_years_is_28_february() -> None:
    assert add_years(date(2028, 2, 29), 2) == date(2030, 2, 28)
    assert add_years(date(2028, 2, 29), 4) == date(2032, 2, 29)
    assert add_years(date(2027, 12, 31), 70) == date(2097, 12, 31)
