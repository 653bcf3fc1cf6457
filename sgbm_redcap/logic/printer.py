"""Print an AST back as canonical REDCap logic: ``parse(to_text(e)) == e``.

Canonical spelling: ``=``, ``<>``, lower-case ``and``/``or``/``not``, double-quoted strings
(single quotes when the text holds a double quote), one space around infix operators, and only
the parentheses precedence needs.
"""

from __future__ import annotations

from sgbm_redcap.errors import LogicError

from .nodes import Binary, Boolean, Call, Expression, FieldRef, Number, SmartVariable, String, Unary

_PREC = {"or": 1, "and": 2, "=": 3, "<>": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
         "+": 4, "-": 4, "*": 5, "/": 5}
_UNARY_PREC = 6
_POWER_PREC = 7
_ATOM_PREC = 8


def _prec(node: Expression) -> int:
    if isinstance(node, Binary):
        return _POWER_PREC if node.op == "^" else _PREC[node.op]
    if isinstance(node, Unary):
        return _UNARY_PREC
    return _ATOM_PREC


def _wrap(node: Expression, parens: bool) -> str:
    text = to_text(node)
    return f"({text})" if parens else text


def quote(value: str) -> str:
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    raise LogicError(f"REDCap logic cannot quote text holding both kinds of quote: {value!r}")


def field_text(ref: FieldRef) -> str:
    inner = ref.field
    if ref.code is not None:
        inner += f"({ref.code})"
    for mod in ref.modifiers:
        inner += f":{mod}"
    text = f"[{inner}]"
    if ref.event is not None:
        text = f"[{ref.event}]{text}"
    if ref.instance is not None:
        text += f"[{ref.instance}]"
    return text


def to_text(expression: Expression) -> str:
    """Canonical REDCap logic for ``expression``."""
    node = expression
    if isinstance(node, Number):
        return node.text
    if isinstance(node, String):
        return quote(node.value)
    if isinstance(node, Boolean):
        return "true" if node.value else "false"
    if isinstance(node, FieldRef):
        return field_text(node)
    if isinstance(node, SmartVariable):
        return f"[{node.name}]" if node.param is None else f"[{node.name}:{node.param}]"
    if isinstance(node, Call):
        return f"{node.name}(" + ", ".join(to_text(a) for a in node.args) + ")"
    if isinstance(node, Unary):
        operand = _wrap(node.operand, _prec(node.operand) < _UNARY_PREC)
        if node.op == "not":
            return f"not {operand}" if not operand.startswith("(") else f"not{operand}"
        return f"{node.op}{operand}"
    if isinstance(node, Binary):
        if node.op == "^":
            left = _wrap(node.left, _prec(node.left) <= _POWER_PREC)
            right = _wrap(node.right, _prec(node.right) < _UNARY_PREC)
            return f"{left} ^ {right}"
        prec = _PREC[node.op]
        left = _wrap(node.left, _prec(node.left) < prec)
        right = _wrap(node.right, _prec(node.right) <= prec)
        return f"{left} {node.op} {right}"
    raise LogicError(f"not a logic node: {node!r}")
