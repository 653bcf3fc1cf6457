"""The AST of REDCap logic.

Nodes are frozen dataclasses so that two parses of the same logic compare equal. ``pos`` (the
0-based character offset in the source text) is carried for messages only and takes no part in
equality, so ``parse(to_text(e)) == e`` holds although ``to_text`` re-spaces the text.
Parentheses are not nodes: ``to_text`` puts back exactly the ones precedence needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expression:
    """Base of every node."""

    def children(self) -> tuple[Expression, ...]:
        return ()

    def walk(self) -> Iterator[Expression]:
        """This node and every node below it, depth first (iteratively: no recursion limit)."""
        stack: list[Expression] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))


@dataclass(frozen=True)
class Number(Expression):
    """A numeric literal, kept as written (``"2.50"``) so printing never changes it."""

    text: str
    pos: int = field(default=-1, compare=False, repr=False)

    @property
    def value(self) -> float:
        return float(self.text)


@dataclass(frozen=True)
class String(Expression):
    """A quoted literal. REDCap strings have no escapes; ``''`` is the blank test value."""

    value: str
    pos: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True)
class Boolean(Expression):
    """``true`` / ``false`` (REDCap's grammar lists boolean operands)."""

    value: bool
    pos: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True)
class FieldRef(Expression):
    """``[event][field(code):modifier][instance]``.

    ``event`` is a unique event name or an event smart variable (``previous-event-name``);
    ``code`` a checkbox option code; ``instance`` a positive integer as text or an instance
    smart variable (``current-instance``); ``modifiers`` the piping modifiers in order,
    lower-cased (``value``, ``label``, ``checked``, ``unchecked``).
    """

    field: str
    event: str | None = None
    code: str | None = None
    instance: str | None = None
    modifiers: tuple[str, ...] = ()
    pos: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True)
class SmartVariable(Expression):
    """``[name]`` or ``[name:param]`` for a REDCap smart variable (``[event-name]``,
    ``[aggregate-min:age]``). ``param`` is the raw text after the first colon."""

    name: str
    param: str | None = None
    pos: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True)
class Unary(Expression):
    """``op`` is ``not``, ``-`` or ``+``."""

    op: str
    operand: Expression
    pos: int = field(default=-1, compare=False, repr=False)

    def children(self) -> tuple[Expression, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Expression):
    """``op`` in canonical spelling: ``or and = <> < <= > >= + - * / ^``."""

    op: str
    left: Expression
    right: Expression
    pos: int = field(default=-1, compare=False, repr=False)

    def children(self) -> tuple[Expression, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Call(Expression):
    """A function call; ``name`` is lower-cased except REDCap's internal ``*RC`` forms,
    which are normalised to their canonical spelling (``roundRC``)."""

    name: str
    args: tuple[Expression, ...]
    pos: int = field(default=-1, compare=False, repr=False)

    def children(self) -> tuple[Expression, ...]:
        return self.args


COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})
ARITHMETIC = frozenset({"+", "-", "*", "/", "^"})
LOGICAL = frozenset({"and", "or"})
