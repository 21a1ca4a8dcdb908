"""Render a protocol form from raw inputs (a draft, or input refused before validation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from portal.protocols.builder import current_locale
from portal.protocols.render import fill, skeleton


def render_inputs(ref: Any, texts: Mapping[str, Sequence[str]],
                  errors: Mapping[str | None, Sequence[Any]]) -> Markup:
    """Fill the form's cached markup with input texts and errors keyed by input name."""
    parts = skeleton(ref.protocol, ref.definition.key, current_locale())
    return fill(parts, texts, errors)
