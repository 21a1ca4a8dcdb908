"""Who may import whom: every import of every module of `portal/`, top-level and inside
functions, read with `ast` (nothing is imported to find them).

- Outside `records`, only its public face is imported: the door `portal.records.reading` and
  the tables `portal.records.models` (README, Development).
- No import cycle between modules, not even through imports inside functions.
- `audit` imports neither `accounts` nor `access`; `protocols` does not import `records`.
"""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[1] / "portal"

#: what other areas may import of `records`
RECORDS_FACE = frozenset({"portal.records", "portal.records.reading", "portal.records.models"})
def module_files(root: Path) -> dict[str, Path]:
    """Module name → file, for every module under `root` (a package directory)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[tuple[str, int]]:
    """The known modules `name` imports anywhere in its file, with the line of each."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` imports module a.b when there is one, else a name of a
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        found.update((target, node.lineno) for target in targets
                     if target in known and target != name)
    return found


def import_graph(root: Path) -> dict[str, set[tuple[str, int]]]:
    known = module_files(root)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[tuple[str, int]]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {name: sorted({target for target, _line in targets})
             for name, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            for offset, target in enumerate(edges[node][position:], position):
                if target not in index:
                    work.append((node, offset + 1))
                    work.append((target, 0))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return found


def _area(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def face_breaches(graph: dict[str, set[tuple[str, int]]]) -> list[str]:
    return sorted(
        f"{name} (line {line}) imports {target}"
        for name, targets in graph.items() if _area(name) != "records"
        for target, line in targets
        if _area(target) == "records" and target not in RECORDS_FACE
    )


def area_breaches(graph: dict[str, set[tuple[str, int]]], area: str,
                  forbidden: set[str]) -> list[str]:
    return sorted(f"{name} (line {line}) imports {target}"
                  for name, targets in graph.items() if _area(name) == area
                  for target, line in targets if _area(target) in forbidden)


def test_other_areas_import_only_the_face_of_records() -> None:
    assert face_breaches(import_graph(PORTAL)) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph(PORTAL)) == []


def test_audit_imports_neither_accounts_nor_access() -> None:
    assert area_breaches(import_graph(PORTAL), "audit", {"accounts", "access"}) == []


def test_protocols_do_not_import_records() -> None:
    assert area_breaches(import_graph(PORTAL), "protocols", {"records"}) == []


def test_the_walk_sees_imports_inside_functions_and_their_cycles(tmp_path: Path) -> None:
    package = tmp_path / "portal"
    (package / "records").mkdir(parents=True)
    (package / "rights").mkdir()
    for init in (package, package / "records", package / "rights"):
        (init / "__init__.py").write_text("")
    (package / "records" / "policy.py").write_text(
        "def f():\n    from portal.rights import links\n")
    (package / "records" / "reading.py").write_text("from . import policy\n")
    (package / "rights" / "links.py").write_text(
        "from portal.records import reading\n\n\ndef g():\n"
        "    from portal.records.policy import f\n")
    graph = import_graph(package)
    assert face_breaches(graph) == ["portal.rights.links (line 5) imports portal.records.policy"]
    assert cycles(graph) == [["portal.records.policy", "portal.records.reading",
                              "portal.rights.links"]]
