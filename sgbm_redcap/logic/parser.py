"""Lexer and recursive-descent parser for REDCap logic (REDCAP_API.md §5.4).

Precedence, loosest first (docs/logic.md explains the choices)::

    or  ||                     left-associative
    and &&                     left-associative
    = == <> != < <= > >=       left-associative chain
    + -                        left-associative
    * /                        left-associative
    not ! unary- unary+        prefix; binds tighter than every infix operator
    ^                          right-associative; the exponent may carry a prefix (2 ^ -1)

Every failure is a :class:`LogicSyntaxError` whose ``offset`` points at the character a site
manager should look at. Nesting is capped so no input can exhaust the Python stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sgbm_redcap.errors import LogicSyntaxError

from .functions import (
    CANONICAL_NAMES,
    EVENT_SMART_VARIABLES,
    FUNCTIONS,
    INSTANCE_SMART_VARIABLES,
)
from .nodes import Binary, Boolean, Call, Expression, FieldRef, Number, SmartVariable, String, Unary

MAX_DEPTH = 120
#: Longest chain of operators (``[a] = 1 or [b] = 1 or ...``) accepted; keeps every recursive
#: walk over the tree (printing, evaluation) well inside Python's stack.
MAX_HEIGHT = 300

_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_PART = re.compile(
    r"(?P<field>[A-Za-z0-9_]+)(?:\((?P<code>[^()\[\]]*)\))?(?P<mods>(?::[A-Za-z][A-Za-z0-9_-]*)*)"
)
_SMART = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+)(?::(?P<param>.*))?", re.S)
_EVENT = re.compile(r"[A-Za-z0-9_]+")
_INSTANCE = re.compile(r"[0-9]+")

# Operators, longest first.
_OPERATORS = ("<=", ">=", "<>", "!=", "==", "&&", "||", "=", "<", ">", "+", "-", "*", "/", "^", "!")
_CANONICAL_OP = {"==": "=", "!=": "<>", "&&": "and", "||": "or", "!": "not"}
_KEYWORDS = {"and": "and", "or": "or", "not": "not"}


@dataclass(frozen=True)
class Token:
    kind: str  # NUM STR BRACKET WORD OP ( ) , EOF
    text: str
    pos: int
    end: int


def strip_comments(text: str) -> str:
    """Blank out ``//`` and ``#`` comment lines, keeping every other character's offset.

    A comment line is one whose first non-blank characters are ``//`` or ``#``; a line break
    (``\\n`` or ``\\r``) inside a quoted string does not start a line, so a string holding
    ``"a\\n# b"`` stays whole.
    """
    if "//" not in text and "#" not in text:
        return text
    out = list(text)
    quote = ""
    at_line_start = True
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            i += 1
            continue
        if at_line_start and ch in " \t\f\v":
            i += 1
            continue
        if at_line_start and (ch == "#" or text.startswith("//", i)):
            while i < n and text[i] not in "\r\n":
                out[i] = " "
                i += 1
            continue
        at_line_start = ch in "\r\n"
        if ch in "'\"":
            quote = ch
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    """Split logic text into tokens; brackets and quotes are checked here."""
    src = strip_comments(text)
    tokens: list[Token] = []
    i = 0
    n = len(src)
    parens: list[int] = []
    while i < n:
        ch = src[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"":
            close = src.find(ch, i + 1)
            if close < 0:
                raise LogicSyntaxError(
                    f"unterminated string: the quote {ch} is never closed",
                    offset=i,
                    text=text,
                )
            tokens.append(Token("STR", src[i + 1 : close], i, close + 1))
            i = close + 1
            continue
        if ch == "[":
            close = src.find("]", i + 1)
            nested = src.find("[", i + 1)
            if close < 0 or (0 <= nested < close):
                raise LogicSyntaxError("unbalanced '[': it has no matching ']'", offset=i, text=text)
            tokens.append(Token("BRACKET", src[i + 1 : close], i, close + 1))
            i = close + 1
            continue
        if ch == "]":
            raise LogicSyntaxError(
                "unbalanced ']': no '[' before it", offset=i, text=text
            )
        if ch == "(":
            parens.append(i)
            tokens.append(Token("(", ch, i, i + 1))
            i += 1
            continue
        if ch == ")":
            if not parens:
                raise LogicSyntaxError(
                    "unbalanced ')': no '(' before it", offset=i, text=text
                )
            parens.pop()
            tokens.append(Token(")", ch, i, i + 1))
            i += 1
            continue
        if ch == ",":
            tokens.append(Token(",", ch, i, i + 1))
            i += 1
            continue
        m = _NUMBER.match(src, i)
        if m is not None:
            end = m.end()
            if end < n and (src[end].isalpha() or src[end] == "_" or src[end] == "."):
                raise LogicSyntaxError(
                    f"malformed number {src[i:end + 1]!r}", offset=i, text=text
                )
            tokens.append(Token("NUM", m.group(), i, end))
            i = end
            continue
        m = _WORD.match(src, i)
        if m is not None:
            tokens.append(Token("WORD", m.group(), i, m.end()))
            i = m.end()
            continue
        for op in _OPERATORS:
            if src.startswith(op, i):
                tokens.append(Token("OP", op, i, i + len(op)))
                i += len(op)
                break
        else:
            raise LogicSyntaxError(f"unexpected character {ch!r}", offset=i, text=text)
    if parens:
        raise LogicSyntaxError(
            "unbalanced '(': it is never closed with ')'", offset=parens[-1], text=text
        )
    tokens.append(Token("EOF", "", n, n))
    return tokens


_PRECEDENCE = {"or": 1, "and": 2, "=": 3, "<>": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
               "+": 4, "-": 4, "*": 5, "/": 5}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers -------------------------------------------------------------------------
    def error(self, message: str, pos: int) -> LogicSyntaxError:
        return LogicSyntaxError(message, offset=pos, text=self.text)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def describe(self, tok: Token) -> str:
        if tok.kind == "EOF":
            return "the end of the logic"
        if tok.kind == "BRACKET":
            return f"'[{tok.text}]'"
        if tok.kind == "STR":
            return f"the text '{tok.text}'"
        return f"'{tok.text}'"

    def binary_op(self, tok: Token) -> str | None:
        if tok.kind == "OP":
            op = _CANONICAL_OP.get(tok.text, tok.text)
            return op if op in _PRECEDENCE else None
        if tok.kind == "WORD":
            kw = _KEYWORDS.get(tok.text.lower())
            return kw if kw in ("and", "or") else None
        return None

    # -- grammar ---------------------------------------------------------------------------
    def parse(self) -> Expression:
        if self.peek().kind == "EOF":
            raise self.error("the logic is empty", 0)
        expr = self.expression(1)
        tok = self.peek()
        if tok.kind != "EOF":
            if tok.kind == ")":
                raise self.error("unbalanced ')': no '(' before it", tok.pos)
            raise self.error(
                f"expected an operator such as 'and', 'or' or '=' before {self.describe(tok)}",
                tok.pos,
            )
        return expr

    def expression(self, min_prec: int) -> Expression:
        """Precedence climbing over the left-associative infix levels 1–5."""
        left = self.unary()
        while True:
            tok = self.peek()
            op = self.binary_op(tok)
            if op is None or _PRECEDENCE[op] < min_prec:
                return left
            self.advance()
            if self.peek().kind == "EOF":
                raise self.error(
                    f"'{tok.text}' has nothing after it", tok.pos
                )
            right = self.expression(_PRECEDENCE[op] + 1)
            left = Binary(op, left, right, pos=tok.pos)

    def unary(self) -> Expression:
        tok = self.peek()
        op = None
        if tok.kind == "OP" and tok.text in ("!", "-", "+"):
            op = _CANONICAL_OP.get(tok.text, tok.text)
        elif tok.kind == "WORD" and tok.text.lower() == "not":
            op = "not"
        if op is None:
            return self.power()
        self.advance()
        self.enter(tok)
        operand = self.unary()
        self.depth -= 1
        return Unary(op, operand, pos=tok.pos)

    def power(self) -> Expression:
        base = self.primary()
        tok = self.peek()
        if tok.kind == "OP" and tok.text == "^":
            self.advance()
            self.enter(tok)
            exponent = self.unary()
            self.depth -= 1
            return Binary("^", base, exponent, pos=tok.pos)
        return base

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("the logic is nested too deeply", tok.pos)

    def primary(self) -> Expression:
        tok = self.advance()
        if tok.kind == "NUM":
            return Number(tok.text, pos=tok.pos)
        if tok.kind == "STR":
            return String(tok.text, pos=tok.pos)
        if tok.kind == "BRACKET":
            return self.reference(tok)
        if tok.kind == "(":
            self.enter(tok)
            if self.peek().kind == ")":
                raise self.error("empty parentheses", tok.pos)
            inner = self.expression(1)
            close = self.advance()
            if close.kind != ")":
                raise self.error(
                    f"expected ')' to close the '(' at character {tok.pos + 1}, found "
                    f"{self.describe(close)}",
                    close.pos,
                )
            self.depth -= 1
            return inner
        if tok.kind == "WORD":
            low = tok.text.lower()
            if self.peek().kind == "(" and low not in _KEYWORDS:
                return self.call(tok)
            if low in ("true", "false"):
                return Boolean(low == "true", pos=tok.pos)
            if low in _KEYWORDS:
                raise self.error(
                    f"'{tok.text}' needs a value on its left", tok.pos
                )
            raise self.error(
                f"unexpected word '{tok.text}': put text in quotes and "
                "field names in [brackets]",
                tok.pos,
            )
        if tok.kind == "EOF":
            raise self.error("the logic ends where a value was expected", tok.pos)
        if tok.kind == ")":
            raise self.error("expected a value before ')'", tok.pos)
        if tok.kind == ",":
            raise self.error("unexpected ',' outside a function call", tok.pos)
        raise self.error(
            f"expected a value but found '{tok.text}'", tok.pos
        )

    def call(self, name_tok: Token) -> Expression:
        open_tok = self.advance()
        self.enter(open_tok)
        args: list[Expression] = []
        if self.peek().kind == ")":
            self.advance()
        else:
            while True:
                if self.peek().kind in (",", ")"):
                    tok = self.peek()
                    raise self.error(
                        f"missing argument to {name_tok.text}()", tok.pos
                    )
                args.append(self.expression(1))
                tok = self.advance()
                if tok.kind == ")":
                    break
                if tok.kind != ",":
                    raise self.error(
                        f"expected ',' or ')' in the {name_tok.text}() that starts at character "
                        f"{name_tok.pos + 1}, found {self.describe(tok)}",
                        tok.pos,
                    )
        self.depth -= 1
        low = name_tok.text.lower()
        name = CANONICAL_NAMES.get(low, low)
        arity = FUNCTIONS.get(name)
        if arity is not None:
            lo, hi = arity
            if len(args) < lo or (hi is not None and len(args) > hi):
                want = (
                    f"{lo}" if lo == hi else f"{lo} to {hi}" if hi is not None else f"at least {lo}"
                )
                plural = "" if want in ("1", "at least 1") else "s"
                raise self.error(
                    f"{name}() takes {want} argument{plural}, "
                    f"got {len(args)}",
                    name_tok.pos,
                )
        return Call(name, tuple(args), pos=name_tok.pos)

    # -- [event][field(code):mod][instance] ------------------------------------------------
    def reference(self, first: Token) -> Expression:
        parts = [first]
        while self.peek().kind == "BRACKET" and self.peek().pos == parts[-1].end:
            parts.append(self.advance())
        if len(parts) > 3:
            raise self.error(
                "too many [..] in a row: at most [event][field][instance]",
                first.pos,
            )
        if len(parts) == 1:
            return self.single(first)
        if len(parts) == 3:
            event, fld, inst = parts
            return self.field_part(fld, event=self.event_part(event),
                                   instance=self.instance_part(inst))
        a, b = parts
        if _is_instance(b.text):
            return self.field_part(a, instance=self.instance_part(b))
        return self.field_part(b, event=self.event_part(a))

    def single(self, tok: Token) -> Expression:
        text = tok.text
        m = _SMART.fullmatch(text)
        if m is not None:
            return SmartVariable(m.group("name").lower(), m.group("param"), pos=tok.pos)
        if _INSTANCE.fullmatch(text):
            raise self.error(
                f"[{text}] is an instance number but no field comes before it",
                tok.pos,
            )
        return self.field_part(tok)

    def field_part(
        self, tok: Token, *, event: str | None = None, instance: str | None = None
    ) -> FieldRef:
        m = _FIELD_PART.fullmatch(tok.text)
        if m is None:
            if tok.text.strip() == "":
                raise self.error("empty []", tok.pos)
            raise self.error(
                f"[{tok.text}] is not a field name (letters, digits and _ only)",
                tok.pos,
            )
        mods = tuple(x.lower() for x in m.group("mods").split(":")[1:])
        code = m.group("code")
        if code is not None:
            code = code.strip()
            if code == "":
                raise self.error(f"empty checkbox code in [{tok.text}]", tok.pos)
        return FieldRef(m.group("field"), event, code, instance, mods, pos=tok.pos)

    def event_part(self, tok: Token) -> str:
        text = tok.text
        if _EVENT.fullmatch(text) or text.lower() in EVENT_SMART_VARIABLES:
            return text if _EVENT.fullmatch(text) else text.lower()
        raise self.error(f"[{text}] is not an event name", tok.pos)

    def instance_part(self, tok: Token) -> str:
        if not _is_instance(tok.text):
            raise self.error(
                f"[{tok.text}] is not an instance (a number or "
                "[current-instance], [previous-instance], ...)",
                tok.pos,
            )
        text = tok.text.lower()
        if text.isdigit() and int(text) < 1:
            raise self.error(f"instance [{tok.text}] must be 1 or more", tok.pos)
        return str(int(text)) if text.isdigit() else text


def _is_instance(text: str) -> bool:
    return bool(_INSTANCE.fullmatch(text)) or text.lower() in INSTANCE_SMART_VARIABLES


def parse(text: str) -> Expression:
    """Parse REDCap logic (branching logic, a calc equation, filterLogic) into an AST."""
    if not isinstance(text, str):
        raise TypeError(f"logic must be str, not {type(text).__name__}")
    expr = _Parser(text).parse()
    if _height(expr) > MAX_HEIGHT:
        raise LogicSyntaxError(
            f"the logic is too long: more than {MAX_HEIGHT} operators in a chain",
            offset=0,
            text=text,
        )
    return expr


def _height(expr: Expression) -> int:
    """Height of the tree, computed without recursion."""
    best = 0
    stack = [(expr, 1)]
    while stack:
        node, h = stack.pop()
        best = max(best, h)
        stack.extend((c, h + 1) for c in node.children())
    return best
