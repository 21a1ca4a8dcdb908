"""Import every area's models so that the metadata knows all tables (Alembic, create_all)."""

from portal.core import models as core_models

__all__ = ["core_models"]
