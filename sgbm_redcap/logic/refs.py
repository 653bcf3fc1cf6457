"""What a piece of logic refers to, read from the parser's AST (never from the text).

``[event][field(code):modifier][instance]`` has one reading, the parser's: a regular
expression over the text cannot tell ``[event][field]`` from two fields, a smart variable
(``[current-instance]``) from a field, or a bracket inside a string (``'[x]'``) from a
reference. Everything that asks "which fields does this logic read" asks this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .nodes import Expression, FieldRef, SmartVariable
from .parser import parse


@dataclass(frozen=True)
class References:
    """The references of one expression, in order of first appearance.

    ``fields``: field names (``x_complete`` form-status names included); ``refs``: every
    ``FieldRef`` node (with its event, checkbox code, instance and modifiers);
    ``smart_variables``: the smart-variable names used (``current-instance``, ...).
    """

    refs: tuple[FieldRef, ...]
    smart_variables: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.field for r in self.refs))

    @property
    def events(self) -> tuple[str, ...]:
        """Event names (or event smart variables) given as ``[event][field]``."""
        return tuple(dict.fromkeys(r.event for r in self.refs if r.event is not None))

    @property
    def row_local(self) -> bool:
        """True when the logic can only read its own row: no ``[event][field]``, no
        ``[field][instance]`` and no smart variable (which may look at other rows)."""
        return not self.smart_variables and all(
            r.event is None and r.instance is None for r in self.refs)


def references(logic: str | Expression) -> References:
    """The references of ``logic`` (text is parsed; raises ``LogicSyntaxError``)."""
    if isinstance(logic, str):
        return _references_of_text(logic)
    return _collect(logic)


def referenced_fields(logic: str | Expression) -> tuple[str, ...]:
    """The field names ``logic`` reads, in order of first appearance."""
    return references(logic).fields


@lru_cache(maxsize=8192)
def _references_of_text(text: str) -> References:
    return _collect(parse(text))


def _collect(tree: Expression) -> References:
    refs: list[FieldRef] = []
    smart: dict[str, None] = {}
    for node in tree.walk():
        if isinstance(node, FieldRef):
            refs.append(node)
        elif isinstance(node, SmartVariable):
            smart.setdefault(node.name, None)
    return References(tuple(refs), tuple(smart))
