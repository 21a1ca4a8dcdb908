"""Import every area's models so that the metadata knows all tables (Alembic, create_all)."""

import importlib
import importlib.util

from portal.areas import AREAS
from portal.sealing import KeyCheck

#: the models module of each area present in this installation
AREA_MODELS = {
    area: importlib.import_module(f"portal.{area}.models")
    for area in AREAS
    if importlib.util.find_spec(f"portal.{area}") is not None
    and importlib.util.find_spec(f"portal.{area}.models") is not None
}

__all__ = ["AREA_MODELS", "KeyCheck"]
