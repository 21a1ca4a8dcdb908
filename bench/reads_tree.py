"""Import the portal from another checkout (PORTAL_BENCH_TREE): the base code of reads_bench.

The editable install's finder would always answer with this checkout: it is taken off first.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def use_tree(tree: str | None) -> None:
    """Make `import portal` load the checkout at `tree` (None: this one)."""
    if not tree:
        return
    sys.meta_path[:] = [finder for finder in sys.meta_path
                        if "__editable__" not in str(getattr(finder, "__module__", ""))]
    sys.path.insert(0, tree)


def app() -> Any:
    """The gunicorn target: the portal of PORTAL_BENCH_TREE."""
    use_tree(os.environ.get("PORTAL_BENCH_TREE"))
    from portal import create_app

    return create_app()
