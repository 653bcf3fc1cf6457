"""Static result kind of an expression: ``bool``, ``number`` or ``text``.

Both evaluators convert their result with it, so that branching logic gives booleans and a
calc equation gives floats whatever the evaluator (CONTRACTS §2).
"""

from __future__ import annotations

from .functions import ALIASES
from .nodes import Binary, Boolean, Call, Expression, Number, Unary

_BOOL_FUNCTIONS = frozenset({
    "isnumber", "isinteger", "contains", "not_contain", "starts_with", "ends_with",
    "isblankormissingcode", "isblanknotmissingcode", "hasmissingcode", "ismissingcode", "is_nan",
})
_TEXT_FUNCTIONS = frozenset({
    "calctext", "calcdate", "left", "right", "mid", "concat", "concat_ws", "upper", "lower",
    "trim", "replace_text",
})


def result_kind(expr: Expression) -> str:
    if isinstance(expr, Boolean):
        return "bool"
    if isinstance(expr, Number):
        return "number"
    if isinstance(expr, Unary):
        return "bool" if expr.op == "not" else "number"
    if isinstance(expr, Binary):
        if expr.op in ("and", "or", "=", "<>", "<", "<=", ">", ">="):
            return "bool"
        return "number"
    if isinstance(expr, Call):
        name = ALIASES.get(expr.name, expr.name)
        if name == "if":
            a, b = result_kind(expr.args[1]), result_kind(expr.args[2])
            return a if a == b else "text"
        if name == "calctext":
            return result_kind(expr.args[0])
        if name in _BOOL_FUNCTIONS:
            return "bool"
        if name in _TEXT_FUNCTIONS:
            return "text"
        return "number"
    return "text"
