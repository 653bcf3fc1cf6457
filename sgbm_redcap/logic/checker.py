"""``check(expression, dictionary)``: names in logic that the project does not have.

The parser only knows the grammar; whether ``[ae_grade]`` exists, whether ``(3)`` is an option
of that checkbox, and whether ``foo()`` is a REDCap function are questions for the
dictionary, asked here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sgbm_redcap.dictionary.model import checkbox_column

from .functions import FUNCTIONS, MODIFIERS, is_known_smart_variable
from .nodes import Call, Expression, FieldRef, SmartVariable


@dataclass(frozen=True)
class LogicProblem:
    """One finding of :func:`check`. ``kind`` is one of ``unknown_field``,
    ``not_checkbox``, ``unknown_choice``, ``unknown_function``, ``unknown_smart_variable``,
    ``unknown_modifier``, ``unknown_event``. ``offset`` is the character in the source text
    (-1 for nodes built by hand)."""

    kind: str
    name: str
    message: str
    offset: int = -1


class _Names:
    """A Dictionary (CONTRACTS §1, duck-typed) or a plain collection of field names."""

    def __init__(self, dictionary: Any):
        self.dictionary = dictionary if hasattr(dictionary, "fields") else None
        if self.dictionary is not None:
            fields = list(self.dictionary.fields)
            self.names = {f.name for f in fields}
            forms = {getattr(f, "form", None) for f in fields} - {None}
            self.names |= {f"{form}_complete" for form in forms}
        else:
            self.names = {str(n) for n in dictionary}

    def field(self, name: str) -> Any:
        if self.dictionary is None:
            return None
        getter = getattr(self.dictionary, "get", None)
        if getter is not None:
            return getter(name)
        return next((f for f in self.dictionary.fields if f.name == name), None)


def check(
    expression: Expression,
    dictionary: Any,
    *,
    events: Collection[str] | None = None,
) -> list[LogicProblem]:
    """Problems of ``expression`` against ``dictionary`` (empty list = fine).

    ``dictionary`` is a Dictionary (``.fields``, ``.get(name)``, ``f.field_type``,
    ``f.choices``) or a set of field names (checkbox references then pass when the name or
    its export column ``name___code`` is in the set). ``events``, when given, are the
    project's unique event names.
    """
    names = _Names(dictionary)
    problems: list[LogicProblem] = []
    for node in expression.walk():
        if isinstance(node, FieldRef):
            problems.extend(_check_field(node, names, events))
        elif isinstance(node, Call) and node.name not in FUNCTIONS:
            problems.append(LogicProblem(
                "unknown_function", node.name,
                f"{node.name}() at {node.pos} is not a REDCap function", node.pos))
        elif isinstance(node, SmartVariable) and not is_known_smart_variable(node.name):
            problems.append(LogicProblem(
                "unknown_smart_variable", node.name,
                f"[{node.name}] at {node.pos} is not a REDCap smart variable", node.pos))
    return problems


def _check_field(
    ref: FieldRef, names: _Names, events: Collection[str] | None
) -> Iterable[LogicProblem]:
    where = f"at {ref.pos}"
    if ref.event is not None and events is not None and "-" not in ref.event:
        if ref.event not in events:
            yield LogicProblem("unknown_event", ref.event,
                               f"[{ref.event}] {where} is not an event of the project", ref.pos)
    for mod in ref.modifiers:
        if mod not in MODIFIERS:
            yield LogicProblem("unknown_modifier", mod,
                               f"':{mod}' in [{ref.field}] {where} is not a REDCap modifier",
                               ref.pos)
    if ref.field not in names.names:
        if ref.code is not None and checkbox_column(ref.field, ref.code) in names.names:
            return
        yield LogicProblem("unknown_field", ref.field,
                           f"[{ref.field}] {where} is not a field of the project", ref.pos)
        return
    if ref.code is None:
        return
    field = names.field(ref.field)
    if field is None:
        return
    if getattr(field, "field_type", None) != "checkbox":
        yield LogicProblem(
            "not_checkbox", ref.field,
            f"[{ref.field}({ref.code})] {where}: {ref.field} is a "
            f"{getattr(field, 'field_type', '?')} field, not a checkbox", ref.pos)
        return
    choices = {str(c) for c in (getattr(field, "choices", None) or {})}
    if ref.code not in choices:
        yield LogicProblem(
            "unknown_choice", ref.code,
            f"[{ref.field}({ref.code})] {where}: {ref.code} is not an option of "
            f"{ref.field} (options: {', '.join(sorted(choices)) or 'none'})", ref.pos)
