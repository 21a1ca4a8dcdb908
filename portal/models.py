"""Import every area's models so that the metadata knows all tables (Alembic, create_all)."""

from portal.access import models as access_models
from portal.accounts import models as accounts_models
from portal.audit import models as audit_models
from portal.core import models as core_models
from portal.protocols import models as protocols_models

__all__ = ["access_models", "accounts_models", "audit_models", "core_models", "protocols_models"]
