"""Notices tests: cheap argon2, and helpers that fill and publish notices through the services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from portal.audit.services import cli_actor
from portal.notices import services
from portal.notices.catalog import Audience
from portal.notices.models import NoticeVersion
from portal.permissions import Role
from tests.conftest import make_test_config
from tests.helpers_auth import CHEAP_ARGON2, make_user

CLI = cli_actor("tests")


#: the controller's own slots, which no default fills
CONTROLLER_SLOTS: dict[str, Any] = {
    "controller_address": "Laboratoire Exemple SAS\n12 rue des Lilas, 69007 Lyon",
    "controller_in_eu": "yes",
    "dpo_contact": "DPO, 12 rue des Lilas, 69007 Lyon, dpo@example.org",
    "transfers_outside_eu": "none",
    "transfers": [],
    "security_contact": "securite@example.org",
}


@pytest.fixture
def app_config(tmp_path: Path, key_file: Path) -> dict[str, object]:
    return make_test_config(tmp_path, key_file, PASSWORD_HASHER=CHEAP_ARGON2)


def complete_values(version: NoticeVersion, **overrides: Any) -> dict[str, Any]:
    """Return a draft's values with every mandatory slot filled, then `overrides`."""
    values = dict(version.slots)
    values.update({k: v for k, v in CONTROLLER_SLOTS.items() if k in values})
    values.update(overrides)
    return values


def publish_notice(db: Session, audience: Audience, actor: Any = CLI, *, material: bool = True,
                   commit: bool = True, **overrides: Any) -> NoticeVersion:
    """Start a draft of `audience`, fill it completely (plus `overrides`) and publish it."""
    draft = services.current_draft(db, audience) or services.start_draft(db, actor, audience)
    services.update_draft(db, actor, draft, complete_values(draft, **overrides))
    services.publish(db, actor, draft, material=material)
    if commit:
        db.commit()
    return draft


@pytest.fixture
def dpo(db: Session):  # noqa: ANN201
    """The laboratory's data protection officer, with a valid grant."""
    return make_user(db, "i.laurent", role=Role.DPO, first_name="Isabelle", last_name="Laurent")
