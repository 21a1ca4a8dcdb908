"""Records fixtures (written once in tests/records/fixtures.py)."""

from tests.records.fixtures import (  # noqa: F401 - fixtures
    aggregated,
    app_config,
    dpo,
    patient,
    pharmacovigilance,
    prescriber,
    prescriber_b,
    protocol,
    site_a,
    site_b,
)
