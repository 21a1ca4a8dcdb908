"""Sealing is reached through its public face only, and it reaches into no area but the trail.

Every import is read, at the top of a module or inside a function, in the portal, the
migrations, the tests and the benchmarks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: what the sealing package may import from the portal (the rotation writes trail entries)
SEALING_MAY_IMPORT = ("portal.sealing", "portal.keys", "portal.db", "portal.audit.services")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from portal.sealing import envelope` reaches a private module too
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if node.module == "portal.sealing"
                      and (ROOT / "portal" / "sealing" / f"{alias.name}.py").exists()]
    return found


def _python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_nothing_outside_sealing_imports_its_private_modules() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _python_files("portal", "migrations", "tests", "bench")
        if "sealing" not in path.relative_to(ROOT).parts[:2]
        for line, name in _imports(path)
        if name.startswith("portal.sealing.")
    ]
    assert wrong == []


def test_sealing_imports_no_area() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _python_files("portal/sealing")
        for line, name in _imports(path)
        if name.startswith("portal") and not name.startswith(SEALING_MAY_IMPORT)
    ]
    assert wrong == []


def test_the_old_homes_of_sealing_are_gone() -> None:
    for old in ("portal/crypto.py", "portal/records/crypto_store.py", "portal/records/rotation.py"):
        assert not (ROOT / old).exists(), f"{old} came back: seal through portal.sealing"
