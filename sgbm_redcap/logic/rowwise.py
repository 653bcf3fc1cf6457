"""The row-by-row reference evaluator.

Slow on purpose: one Python call per node per row, straight from the rules in
:mod:`sgbm_redcap.logic.values`. It exists so the vectorised evaluator has something
independent to be compared against (tests, benchmark). Library code should call
:func:`sgbm_redcap.logic.evaluate`.

A deliberate second implementation (issue 12): it shares only the scalar rules of
``values.py`` with the vectorised evaluator, never its code paths. ``test_logic_evaluate.py``
runs every case through both and ``test_logic_properties.py`` compares them on generated
expressions (``test_second_implementations.py`` lists both such pairs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from sgbm_redcap.errors import LogicError

from . import values as V
from .functions import ALIASES, DATE_FORMATS
from .kinds import result_kind
from .nodes import (
    Binary,
    Boolean,
    Call,
    Expression,
    FieldRef,
    Number,
    SmartVariable,
    String,
    Unary,
)
from .tables import EVENT, INSTANCE, INSTRUMENT, TableSpec, choice_labels

_ARM = re.compile(r"_arm_(\d+)$")


class _Rows:
    def __init__(
        self,
        table: pd.DataFrame,
        spec: TableSpec,
        today: date,
        now: datetime,
        dictionary: Any,
        missing_codes: frozenset[str],
        smart_values: Mapping[str, str],
    ):
        self.table = table
        self.spec = spec
        self.n = len(table)
        self.cols: dict[str, list[str]] = {}
        self.today = today
        self.now = now
        self.dictionary = dictionary
        self.missing_codes = missing_codes
        self.smart_values = smart_values
        self.record = self.col(spec.record_id)
        self.event = self.col(EVENT) if EVENT in table.columns else None
        self.instrument = self.col(INSTRUMENT) if INSTRUMENT in table.columns else [""] * self.n
        self.instance = self.col(INSTANCE) if INSTANCE in table.columns else [""] * self.n
        self.by_record: dict[str, list[int]] = {}
        for r, rec in enumerate(self.record):
            self.by_record.setdefault(rec, []).append(r)
        self.event_order: list[str] = []
        if self.event is not None:
            seen: set[str] = set()
            for ev in self.event:
                if ev not in seen:
                    seen.add(ev)
                    self.event_order.append(ev)

    def col(self, name: str) -> list[str]:
        if name not in self.cols:
            self.cols[name] = [
                "" if (v is None or (not isinstance(v, str) and pd.isna(v))) else str(v)
                for v in self.table[name].tolist()
            ]
        return self.cols[name]

    # -- references ----------------------------------------------------------------------
    def current_instance(self, r: int) -> int:
        return V.instance_number(self.instance[r]) or 1

    def resolve_event(self, name: str, r: int) -> str | None:
        if self.event is None:
            raise LogicError(f"[{name}][...] needs a longitudinal table (redcap_event_name)")
        cur = self.event[r]
        order = self.event_order
        if name == "event-name":
            return cur
        if name == "first-event-name":
            return order[0] if order else None
        if name == "last-event-name":
            return order[-1] if order else None
        if name in ("previous-event-name", "next-event-name"):
            k = order.index(cur) + (-1 if name.startswith("previous") else 1)
            return order[k] if 0 <= k < len(order) else None
        return name

    def candidates(self, r: int, event: str | None, same_event: bool) -> list[int]:
        rows = self.by_record[self.record[r]]
        if self.event is not None:
            want = event if not same_event else self.event[r]
            rows = [k for k in rows if self.event[k] == want]
        return rows

    def field_value(self, ref: FieldRef, r: int) -> V.Value:
        column = self.spec.column_for(ref)
        if column is None:
            return self.combined_checkbox(ref, r)
        values = self.col(column)
        if ref.event is None and ref.instance is None:
            raw = values[r]
        else:
            if ref.event is not None:
                event = self.resolve_event(ref.event, r)
                if event is None:
                    return self.finish(ref, "")
                rows = self.candidates(r, event, same_event=False)
            else:
                rows = self.candidates(r, None, same_event=True)
            raw = ""
            if ref.instance is None:
                for k in rows:
                    if self.instrument[k] == "" and self.instance[k] in ("", "1") and values[k]:
                        raw = values[k]
                        break
            else:
                target = self.target_instance(ref.instance, r, rows, values)
                if target is not None:
                    for k in rows:
                        if self.instance[k] == str(target) and values[k]:
                            raw = values[k]
                            break
        return self.finish(ref, raw)

    def target_instance(
        self, inst: str, r: int, rows: Sequence[int], values: Sequence[str]
    ) -> int | None:
        if inst.isdigit():
            return int(inst)
        if inst == "current-instance":
            return self.current_instance(r)
        if inst == "previous-instance":
            k = self.current_instance(r) - 1
            return k if k >= 1 else None
        if inst == "next-instance":
            return self.current_instance(r) + 1
        filled = [
            n for k in rows if values[k] and (n := V.instance_number(self.instance[k])) is not None
        ]
        if not filled:
            return None
        if inst == "first-instance":
            return min(filled)
        if inst == "last-instance":
            return max(filled)
        return max(filled) + 1  # new-instance: never has a value

    def finish(self, ref: FieldRef, raw: str) -> V.Value:
        if ref.code is not None and raw == "":
            raw = "0"
        if "label" in ref.modifiers:
            labels = choice_labels(self.dictionary, ref.field)
            if ref.code is not None:
                raw = labels.get(ref.code, ref.code) if raw == "1" else ""
            else:
                raw = labels.get(raw, raw)
        return raw if raw != "" else None

    def combined_checkbox(self, ref: FieldRef, r: int) -> V.Value:
        options = self.spec.checkbox_options(ref.field)
        if not options:
            raise LogicError(f"[{ref.field}] is not a column of the table")
        want = "0" if "unchecked" in ref.modifiers else "1"
        use_labels = "checked" in ref.modifiers or "unchecked" in ref.modifiers or (
            "label" in ref.modifiers
        )
        labels = choice_labels(self.dictionary, ref.field) if use_labels else {}
        picked = []
        for code, column in options:
            v = self.col(column)[r] or "0"
            if v == want:
                picked.append(labels.get(code, code) if use_labels else code)
        return ", ".join(picked) if picked else None

    def smart(self, node: SmartVariable, r: int) -> V.Value:
        name = node.name
        if name in self.smart_values:
            return self.smart_values[name] or None
        if name == "record-name":
            return self.record[r] or None
        if name == "record-dag-name":
            if self.spec.dag is None:
                return None
            return self.col(self.spec.dag)[r] or None
        if name in ("event-name", "first-event-name", "last-event-name",
                    "previous-event-name", "next-event-name"):
            if self.event is None:
                return None
            return self.resolve_event(name, r) or None
        if name == "arm-number":
            if self.event is None:
                return "1"
            m = _ARM.search(self.event[r])
            return m.group(1) if m else None
        if name == "current-instance":
            return str(self.current_instance(r))
        if name == "previous-instance":
            k = self.current_instance(r) - 1
            return str(k) if k >= 1 else None
        if name == "next-instance":
            return str(self.current_instance(r) + 1)
        if name in ("first-instance", "last-instance", "new-instance"):
            if V.instance_number(self.instance[r]) is None:
                return "1" if name != "new-instance" else None
            rows = self.candidates(r, None, same_event=True)
            nums = [
                n for k in rows
                if self.instrument[k] == self.instrument[r]
                and (n := V.instance_number(self.instance[k])) is not None
            ]
            if name == "first-instance":
                return str(min(nums))
            if name == "last-instance":
                return str(max(nums))
            return str(max(nums) + 1)
        raise LogicError(
            f"[{name}] has no value in a table of records; pass it in smart_values"
        )

    # -- evaluation ----------------------------------------------------------------------
    def ev(self, node: Expression, r: int) -> V.Value:  # noqa: C901 - one dispatch
        if isinstance(node, FieldRef):
            return self.field_value(node, r)
        if isinstance(node, String):
            return node.value if node.value != "" else None
        if isinstance(node, Number):
            return float(node.text)
        if isinstance(node, Boolean):
            return node.value
        if isinstance(node, SmartVariable):
            return self.smart(node, r)
        if isinstance(node, Unary):
            v = self.ev(node.operand, r)
            if node.op == "not":
                return not V.truthy(v)
            x = V.to_number(v)
            if x is None:
                return None
            return -x if node.op == "-" else x
        if isinstance(node, Binary):
            op = node.op
            if op == "and":
                return V.truthy(self.ev(node.left, r)) and V.truthy(self.ev(node.right, r))
            if op == "or":
                return V.truthy(self.ev(node.left, r)) or V.truthy(self.ev(node.right, r))
            a = self.ev(node.left, r)
            b = self.ev(node.right, r)
            if op in ("=", "<>"):
                return compare_equal(a, b) == (op == "=")
            if op in ("<", "<=", ">", ">="):
                return compare_order(a, b, op)
            return arithmetic(op, a, b)
        if isinstance(node, Call):
            return self.call(node, r)
        raise LogicError(f"cannot evaluate {node!r}")

    def call(self, node: Call, r: int) -> V.Value:  # noqa: C901 - the function table
        name = ALIASES.get(node.name, node.name)
        args = node.args
        if name == "if":
            return self.ev(args[1] if V.truthy(self.ev(args[0], r)) else args[2], r)
        vals = [self.ev(a, r) for a in args]
        if name == "datediff":
            return self.datediff(vals)
        if name == "calcdate":
            start = V.resolve_date(vals[0], None, self.today, self.now)
            amount = V.to_number(vals[1])
            unit = V.to_text(vals[2])
            if start is None or amount is None or unit not in V.UNIT_SECONDS:
                return None
            seconds = amount * V.UNIT_SECONDS[unit]
            moment = V.add_to_moment(start[0], seconds)
            if moment is None:
                return None
            return V.format_moment(moment, start[1] or seconds % 86400 != 0)
        if name in ("round", "roundup", "rounddown"):
            x = V.to_number(vals[0])
            d = V.to_number(vals[1]) if len(vals) > 1 else 0.0
            if x is None or d is None:
                return None
            fn = {"round": V.round_half_away, "roundup": V.round_up,
                  "rounddown": V.round_down}[name]
            return V.finite(fn(x, V.clamp_digits(d)))
        if name in ("sqrt", "abs", "exponential", "is_nan", "chkNull"):
            x = V.to_number(vals[0])
            if name == "is_nan":
                return x is None
            if x is None:
                return None
            if name == "sqrt":
                return math.sqrt(x) if x >= 0 else None
            if name == "abs":
                return abs(x)
            if name == "chkNull":
                return x
            return V.finite(math.exp(x)) if x < 710 else None
        if name == "log":
            x = V.to_number(vals[0])
            base = V.to_number(vals[1]) if len(vals) > 1 else math.e
            if x is None or base is None or x <= 0 or base <= 0 or base == 1:
                return None
            return V.finite(math.log(x) / math.log(base))
        if name in ("mod", "powRC"):
            a, b = V.to_number(vals[0]), V.to_number(vals[1])
            if a is None or b is None:
                return None
            if name == "mod":
                return math.fmod(a, b) if b != 0 else None
            return arithmetic("^", a, b)
        if name in ("min", "max", "sum", "mean", "median", "stdev"):
            return aggregate(name, [V.to_number(v) for v in vals])
        if name == "isnumber":
            return V.to_number(vals[0]) is not None
        if name == "isinteger":
            v = vals[0]
            if isinstance(v, str):
                return bool(V.INTEGER_RE.fullmatch(v))
            x = V.to_number(v)
            return x is not None and float(x).is_integer()
        if name in ("contains", "not_contain", "starts_with", "ends_with"):
            hay, needle = V.to_text(vals[0]).lower(), V.to_text(vals[1]).lower()
            if name == "contains":
                return needle in hay
            if name == "not_contain":
                return needle not in hay
            if name == "starts_with":
                return hay.startswith(needle)
            return hay.endswith(needle)
        if name in ("left", "right"):
            text, k = V.to_text(vals[0]), V.to_number(vals[1])
            if k is None:
                return None
            k = max(0, int(k))
            out = text[:k] if name == "left" else (text[len(text) - k:] if k else "")
            return out or None
        if name == "mid":
            text, start, k = V.to_text(vals[0]), V.to_number(vals[1]), V.to_number(vals[2])
            if start is None or k is None:
                return None
            s = max(1, int(start)) - 1
            return text[s : s + max(0, int(k))] or None
        if name == "length":
            return float(len(V.to_text(vals[0])))
        if name == "find":
            needle, hay = V.to_text(vals[0]).lower(), V.to_text(vals[1]).lower()
            return float(hay.find(needle) + 1)
        if name == "concat":
            return "".join(V.to_text(v) for v in vals) or None
        if name == "concat_ws":
            sep = V.to_text(vals[0])
            return sep.join(V.to_text(v) for v in vals[1:] if not V.is_blank(v)) or None
        if name in ("upper", "lower", "trim"):
            text = V.to_text(vals[0])
            out = text.upper() if name == "upper" else text.lower() if name == "lower" else (
                text.strip()
            )
            return out or None
        if name == "replace_text":
            text, old, new = (V.to_text(v) for v in vals)
            return (text.replace(old, new) if old else text) or None
        if name in ("year", "month", "day"):
            moment = V.resolve_date(vals[0], None, self.today, self.now)
            if moment is None:
                return None
            return float(getattr(moment[0], name))
        if name == "calctext":
            return vals[0]
        if name in ("isblankormissingcode", "isblanknotmissingcode", "hasmissingcode",
                    "ismissingcode"):
            blank = V.is_blank(vals[0])
            missing = V.to_text(vals[0]) in self.missing_codes
            if name == "isblankormissingcode":
                return blank or missing
            if name == "isblanknotmissingcode":
                return blank
            return missing
        raise LogicError(f"{node.name}() is not a REDCap function")

    def datediff(self, vals: list[V.Value]) -> V.Value:
        unit = V.to_text(vals[2])
        fmt = None
        signed: V.Value = False
        rest = vals[3:]
        if rest and V.to_text(rest[0]).lower() in DATE_FORMATS:
            fmt = V.to_text(rest[0]).lower()
            rest = rest[1:]
        if rest:
            signed = rest[0]
        a = V.resolve_date(vals[0], fmt, self.today, self.now)
        b = V.resolve_date(vals[1], fmt, self.today, self.now)
        if a is None or b is None or unit not in V.UNIT_SECONDS:
            return None
        diff = (b[0] - a[0]).total_seconds() / V.UNIT_SECONDS[unit]
        return diff if V.signed_flag(signed) else abs(diff)


def compare_equal(a: V.Value, b: V.Value) -> bool:
    if V.is_blank(a) or V.is_blank(b):
        return V.is_blank(a) and V.is_blank(b)
    x, y = V.to_number(a), V.to_number(b)
    if x is not None and y is not None:
        return x == y
    return V.to_text(a) == V.to_text(b)


def compare_order(a: V.Value, b: V.Value, op: str) -> bool:
    if V.is_blank(a) or V.is_blank(b):
        return False
    x, y = V.to_number(a), V.to_number(b)
    left: Any
    right: Any
    if x is not None and y is not None:
        left, right = x, y
    else:
        left, right = V.to_text(a), V.to_text(b)
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def arithmetic(op: str, a: V.Value, b: V.Value) -> float | None:
    x, y = V.to_number(a), V.to_number(b)
    if x is None or y is None:
        return None
    try:
        if op == "+":
            out = x + y
        elif op == "-":
            out = x - y
        elif op == "*":
            out = x * y
        elif op == "/":
            if y == 0:
                return None
            out = x / y
        else:
            out = math.pow(x, y)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    return V.finite(out)


def aggregate(name: str, nums: list[float | None]) -> float | None:
    xs = [x for x in nums if x is not None]
    if not xs:
        return None
    if name == "min":
        return min(xs)
    if name == "max":
        return max(xs)
    total = 0.0
    for x in xs:
        total += x
    if name == "sum":
        return V.finite(total)
    mean = total / len(xs)
    if name == "mean":
        return V.finite(mean)
    if name == "median":
        s = sorted(xs)
        mid = len(s) // 2
        return s[mid] if len(s) % 2 else V.finite((s[mid - 1] + s[mid]) / 2)
    if len(xs) < 2:
        return None
    ss = 0.0
    for x in xs:
        d = x - mean
        ss += d * d  # inf on overflow, never an exception
    return V.finite(math.sqrt(ss / (len(xs) - 1)))


def convert(v: V.Value, kind: str) -> Any:
    if kind == "bool":
        return V.truthy(v)
    if kind == "number":
        x = V.to_number(v)
        return float("nan") if x is None else x
    return V.to_text(v)


def evaluate_rowwise(
    expression: Expression,
    table: pd.DataFrame,
    *,
    today: date | None = None,
    now: datetime | None = None,
    dictionary: Any = None,
    missing_codes: Sequence[str] = (),
    smart_values: Mapping[str, str] | None = None,
    as_: str | None = None,
    record_id: str | None = None,
) -> pd.Series:
    """Evaluate ``expression`` one row at a time (the reference; see module docstring)."""
    spec = TableSpec(table, record_id)
    now = now or datetime.now()
    today = today or now.date()
    rows = _Rows(table, spec, today, now, dictionary, frozenset(missing_codes),
                 dict(smart_values or {}))
    kind = as_ or result_kind(expression)
    out = [convert(rows.ev(expression, r), kind) for r in range(rows.n)]
    dtype = {"bool": bool, "number": float}.get(kind, object)
    return pd.Series(out, index=table.index, dtype=dtype)
