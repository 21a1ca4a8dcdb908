"""Install the demo PUT-SP from forms/ (once)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from portal.audit.services import SYSTEM
from portal.config import PROJECT_ROOT
from portal.protocols.services import install_protocol

DEMO_PROTOCOL = PROJECT_ROOT / "forms" / "put-sp-demo.yaml"


def seed_demo(app: Flask, session: Session) -> list[str]:
    """Install the demo protocol as the version in force; a second run changes nothing."""
    installed = install_protocol(session, SYSTEM, DEMO_PROTOCOL)
    version = installed.version
    state = "installed" if installed.created else "already installed"
    return [f"Demo protocol {version.protocol_key} v{version.version_label} {state} "
            f"from {DEMO_PROTOCOL.relative_to(PROJECT_ROOT)}."]
