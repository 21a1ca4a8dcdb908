"""Areas' own settings follow the same order: default, then PORTAL_* variable, then test mapping."""

from portal.config import ConfigError, apply_area_defaults


def test_area_defaults_then_environment_then_explicit() -> None:
    config: dict[str, object] = {"AUDIT_MAX_EXPORTS": 3}
    apply_area_defaults(
        config,
        {"AUDIT_MAX_EXPORTS": 5, "AUDIT_NIGHT_START_HOUR": 22, "AUDIT_MAX_EXPORT_ROWS": 1000},
        {"PORTAL_AUDIT_NIGHT_START_HOUR": "23", "PORTAL_AUDIT_MAX_EXPORTS": "9"},
    )
    assert config == {"AUDIT_MAX_EXPORTS": 3, "AUDIT_NIGHT_START_HOUR": 23,
                      "AUDIT_MAX_EXPORT_ROWS": 1000}


def test_a_badly_typed_area_setting_is_named() -> None:
    try:
        apply_area_defaults({}, {"AUDIT_MAX_EXPORTS": 5}, {"PORTAL_AUDIT_MAX_EXPORTS": "many"})
    except ConfigError as error:
        assert "PORTAL_AUDIT_MAX_EXPORTS must be an integer" in str(error)
    else:
        raise AssertionError("a non-integer value was accepted")
