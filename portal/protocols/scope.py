"""Which fields an expression may refer to, and what kind of value each holds."""

from __future__ import annotations

from portal.protocols.expressions import (
    CODE,
    CODES,
    DATE,
    NUMBER,
    PARTIAL,
    ExpressionError,
    FieldInfo,
    compile_expression,
)
from portal.protocols.schema import FieldDef, Form, Protocol, Section

#: Codes of a yes/no field; "unknown" only when the field offers it.
YES, NO, UNKNOWN = "yes", "no", "unknown"

_KIND_BY_TYPE = {
    "integer": NUMBER,
    "decimal": NUMBER,
    "year": NUMBER,
    "calculated": NUMBER,
    "date": DATE,
    "partial_date": PARTIAL,
    "yes_no": CODE,
    "single_choice": CODE,
    "coded": CODE,
    "multiple_choice": CODES,
}


def choice_codes(fld: FieldDef, protocol: Protocol) -> list[str] | None:
    """Return the codes a field accepts, or None when a pattern decides."""
    if fld.type == "yes_no":
        return [YES, NO, UNKNOWN] if fld.unknown else [YES, NO]
    if fld.type in ("single_choice", "multiple_choice"):
        return [choice.code for choice in fld.choices]
    if fld.type == "coded" and fld.code_list:
        code_list = protocol.code_lists.get(fld.code_list)
        return [choice.code for choice in code_list.codes] if code_list else []
    return None


def field_info(fld: FieldDef, protocol: Protocol) -> FieldInfo:
    """Describe a field for the expression type checker."""
    codes = choice_codes(fld, protocol)
    return FieldInfo(_KIND_BY_TYPE[fld.type], frozenset(codes) if codes is not None else None)


def form_scope(protocol: Protocol, form: Form) -> dict[str, FieldInfo]:
    """Fields visible to form-level expressions: those outside repeatable sections."""
    return {
        fld.key: field_info(fld, protocol)
        for _si, _fi, section, fld in form.iter_fields()
        if section.repeat is None
    }


def section_scope(protocol: Protocol, form: Form, section: Section) -> dict[str, FieldInfo]:
    """Fields visible inside a section: the form's plus, if repeated, the entry's own."""
    scope = form_scope(protocol, form)
    scope.update({fld.key: field_info(fld, protocol) for fld in section.fields})
    return scope


#: A node of the evaluation graph: ("section", key) for a section's visibility, ("field", key).
Node = tuple[str, str]


class DependencyCycle(ValueError):
    """A condition or calculation that depends on itself; `node` is where the loop was found."""

    def __init__(self, node: Node) -> None:
        super().__init__(f"{node[0]} {node[1]!r} depends on itself")
        self.node = node


def _refs(source: str | None, scope: dict[str, FieldInfo]) -> set[str]:
    if not source:
        return set()
    try:
        return set(compile_expression(source, scope, expect=None).refs)
    except ExpressionError:
        return set()  # the linter reports it; here an invalid expression adds no edge


def dependency_graph(protocol: Protocol, form: Form) -> dict[Node, set[Node]]:
    """Map each node to what must be decided first: section visibility, conditions, formulas."""
    graph: dict[Node, set[Node]] = {}
    top = form_scope(protocol, form)
    for section in form.sections:
        section_node = ("section", section.key)
        graph[section_node] = {("field", ref) for ref in _refs(section.visible_if, top)}
        inner = section_scope(protocol, form, section)
        for fld in section.fields:
            refs = _refs(fld.visible_if, inner)
            if fld.type == "calculated":
                refs |= _refs(fld.expression, inner)
            graph[("field", fld.key)] = {section_node} | {("field", ref) for ref in refs}
    return graph


def evaluation_order(protocol: Protocol, form: Form) -> list[Node]:
    """Order nodes so that each comes after what it depends on.

    :raises DependencyCycle: when a condition or calculation depends on itself.
    """
    graph = dependency_graph(protocol, form)
    state: dict[Node, int] = {}
    order: list[Node] = []

    def visit(node: Node) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                raise DependencyCycle(node)
            if dep not in state:
                visit(dep)
        state[node] = 2
        order.append(node)

    for node in graph:  # definition order for independent nodes
        if node not in state:
            visit(node)
    return order
