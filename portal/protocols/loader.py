"""Load a protocol definition (YAML or JSON), validate it and run the compliance rules.

Every problem names the file, line and column, the field, the rule and a fix. A definition with
any problem is refused as a whole: nothing half-valid reaches the form builder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from portal.protocols.rules import FREE_TEXT_TYPES, Finding, check, reviews
from portal.protocols.schema import FIELD_TYPE_NAMES, SCHEMA_VERSION, Protocol

Location = tuple[str | int | None, ...]  # None: a key that is not a scalar
Format = Literal["yaml", "json"]


@dataclass(frozen=True)
class Problem:
    """One reason a definition cannot be used, located in its source."""

    file: str
    line: int
    column: int
    field_key: str | None
    rule: str
    message: str
    fix: str

    def __str__(self) -> str:
        subject = f"field {self.field_key!r}: " if self.field_key else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.file}:{self.line}:{self.column}: [{self.rule}] {subject}{self.message}.{fix}"


class ProtocolDefinitionError(Exception):
    """A definition that is malformed or breaks a rule; holds every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass(frozen=True)
class LoadedProtocol:
    """A definition that passed the schema and every rule, with its content hash."""

    definition: Protocol
    content_hash: str
    source: str
    #: What must be settled before installation (pending reviews, placeholders): shown by
    #: `protocol check`, refused by `protocol install`.
    warnings: tuple[Problem, ...] = ()

    @property
    def key(self) -> str:
        """The protocol's key."""
        return self.definition.key


#: Nodes visited with aliases expanded; a definition has a few thousand. Nested aliases
#: ("billion laughs") would otherwise cost exponential time here and in validation.
MAX_NODES = 200_000


class _TooLarge(Exception):
    """The document expands to more than MAX_NODES nodes."""


# libyaml parses about ten times faster than the pure-Python parser; both are safe loaders.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LocatingLoader(_SafeBase):
    """A SafeLoader that records where every mapping key and list item starts."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.positions: dict[Location, tuple[int, int]] = {}
        self.duplicates: list[tuple[Location, tuple[int, int]]] = []
        self.visited = 0

    def construct_document(self, node: yaml.Node) -> Any:
        self._record(node, ())
        return super().construct_document(node)

    def _record(self, node: yaml.Node, path: Location) -> None:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _TooLarge
        self.positions.setdefault(path, _mark(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                child = path + (key,)
                if key in seen:
                    self.duplicates.append((child, _mark(key_node.start_mark)))
                    continue
                seen.add(key)
                self.positions[child] = _mark(key_node.start_mark)
                self._record(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._record(item, path + (index,))


def _mark(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Source:
    """A parsed document and the positions of its parts."""

    def __init__(self, name: str, data: Any, positions: dict[Location, tuple[int, int]]) -> None:
        self.name = name
        self.data = data
        self.positions = positions

    def locate(self, path: Location) -> tuple[int, int]:
        """Return the line and column of the deepest known part of `path`."""
        for end in range(len(path), -1, -1):
            position = self.positions.get(path[:end])
            if position:
                return position
        return 1, 1

    def field_key(self, path: Location) -> str | None:
        """Return the key of the field that `path` is in, if any."""
        node: Any = self.data
        key = None
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(node, Mapping) and "type" in node and isinstance(node.get("key"), str):
                key = node["key"]
        return key

    def problem(self, path: Location, rule: str, message: str, fix: str,
                field_key: str | None = None) -> Problem:
        line, column = self.locate(path)
        key = field_key if field_key is not None else self.field_key(path)
        return Problem(self.name, line, column, key, rule, message, fix)


def _parse(text: str, name: str, fmt: Format) -> _Source:
    """Parse YAML (safe loading only) or JSON, keeping positions."""
    if fmt == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtocolDefinitionError(
                [Problem(name, exc.lineno, exc.colno, None, "syntax", f"invalid JSON: {exc.msg}",
                         "correct the JSON syntax")]
            ) from None
    loader = _LocatingLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = _mark(mark) if mark else (1, 1)
        problem = f"{exc.problem or exc}" + (f" ({exc.context})" if exc.context else "")
        raise ProtocolDefinitionError(
            [Problem(name, line, column, None, "syntax", f"invalid YAML: {problem}",
                     "correct the YAML syntax (indentation, quotes, colons)")]
        ) from None
    except _TooLarge:
        raise ProtocolDefinitionError(
            [Problem(name, 1, 1, None, "syntax",
                     f"the document expands to more than {MAX_NODES} nodes (nested aliases?)",
                     "write the definition without nested anchors and aliases")]
        ) from None
    except yaml.YAMLError as exc:
        raise ProtocolDefinitionError(
            [Problem(name, 1, 1, None, "syntax", f"invalid YAML: {exc}", "correct the syntax")]
        ) from None
    finally:
        loader.dispose()
    source = _Source(name, data, loader.positions)
    if loader.duplicates:
        raise ProtocolDefinitionError([
            Problem(name, line, column, source.field_key(path[:-1]), "syntax",
                    f"key {path[-1]!r} appears twice in the same mapping",
                    "keep one; YAML would silently keep only the last")
            for path, (line, column) in loader.duplicates
        ])
    return source


def _check_version(source: _Source) -> None:
    data = source.data
    if not isinstance(data, Mapping):
        raise ProtocolDefinitionError([source.problem(
            (), "schema", "a definition is a mapping of keys to values",
            "start from forms/README.md",
        )])
    version = data.get("schema_version")
    if version is None:
        raise ProtocolDefinitionError([source.problem(
            (), "schema-version", "`schema_version` is missing",
            f"add `schema_version: {SCHEMA_VERSION}` at the top",
        )])
    if version != SCHEMA_VERSION:
        raise ProtocolDefinitionError([source.problem(
            ("schema_version",), "schema-version",
            f"schema_version {version!r} is not supported (this portal reads {SCHEMA_VERSION})",
            f"write the definition for schema_version {SCHEMA_VERSION}",
        )])


def _data_path(data: Any, loc: tuple[Any, ...]) -> Location:
    """Map a pydantic error location to a path in the data (dropping union tags)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, Mapping) and isinstance(part, str) and part not in FIELD_TYPE_NAMES:
            path.append(part)  # a missing or unknown key: keep it to name it
            break
    return tuple(path)


def _schema_problems(source: _Source, error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        path = _data_path(source.data, tuple(err["loc"]))
        kind = err["type"]
        ctx = err.get("ctx") or {}
        rule, fix = "schema", "see `protocol schema` (JSON Schema) and forms/README.md"
        message = err["msg"].removeprefix("Value error, ")
        if kind == "union_tag_invalid":
            tag = str(ctx.get("tag"))
            if tag.lower() in FREE_TEXT_TYPES:
                rule = "no-free-text"
                message = (f"type {tag!r} is a free-text zone, which the referential forbids "
                           "(section 7.3)")
                fix = ("use a choice list (with coded 'other'/'unknown' answers), a number, a "
                       "date, or a coded value with a strict pattern")
            else:
                rule = "unknown-type"
                message = f"unknown field type {tag!r}"
                fix = "use one of: " + ", ".join(FIELD_TYPE_NAMES)
            path = path + ("type",)
        elif kind == "union_tag_not_found":
            message = "the field has no `type`"
            fix = "add `type:` with one of: " + ", ".join(FIELD_TYPE_NAMES)
        elif kind == "extra_forbidden":
            message = f"unknown key {path[-1]!r}" if path else message
            fix = "remove it or correct its spelling"
        elif kind == "missing":
            message = f"`{path[-1]}` is missing" if path else message
            fix = f"add `{path[-1]}`" if path else fix
            path = path[:-1]
        elif path and isinstance(path[-1], str):
            message = f"`{path[-1]}`: {message}"
        problems.append(source.problem(path, rule, message, fix))
    return problems


def _finding_problem(source: _Source, finding: Finding) -> Problem:
    return source.problem(finding.path, finding.rule.value, finding.message, finding.fix,
                          finding.field_key)


def content_hash(definition: Protocol) -> str:
    """Return the SHA-256 of the definition's canonical JSON (layout and comments ignored)."""
    canonical = json.dumps(definition.model_dump(mode="json"), sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _validate(text: str, name: str, fmt: Format) -> LoadedProtocol:
    source = _parse(text, name, fmt)
    _check_version(source)
    try:
        definition = Protocol.model_validate(source.data)
    except ValidationError as error:
        raise ProtocolDefinitionError(_schema_problems(source, error)) from None
    findings = check(definition)
    if findings:
        raise ProtocolDefinitionError([_finding_problem(source, f) for f in findings])
    warnings = tuple(_finding_problem(source, f) for f in reviews(definition))
    return LoadedProtocol(definition, content_hash(definition), name, warnings)


def guess_format(name: str) -> Format:
    """JSON for *.json, YAML otherwise."""
    return "json" if name.lower().endswith(".json") else "yaml"


@lru_cache(maxsize=64)
def load_text(text: str, source: str = "<text>", fmt: Format | None = None) -> LoadedProtocol:
    """Validate a definition given as text; cached, so a stored version parses once.

    :raises ProtocolDefinitionError: with every located problem.
    """
    return _validate(text, source, fmt or guess_format(source))


def load_path(path: str | Path) -> LoadedProtocol:
    """Read and validate a definition file.

    :raises ProtocolDefinitionError: with every located problem (also for an unreadable file).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolDefinitionError(
            [Problem(name, 1, 1, None, "file", f"cannot read the file: {exc}",
                     "check the path and that the file is UTF-8")]
        ) from None
    return load_text(text, name, guess_format(name))


def check_path(path: str | Path) -> list[Problem]:
    """Return the problems of a definition file (empty when it can be installed)."""
    try:
        load_path(path)
    except ProtocolDefinitionError as error:
        return error.problems
    return []
