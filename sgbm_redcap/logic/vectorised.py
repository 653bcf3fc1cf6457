"""Vectorised evaluation of a logic AST over a whole flat table at once.

Every node evaluates to a :class:`Vec`: a column of values held as NumPy arrays. A column read
from the table is *factorised* (distinct values + one integer code per row), and an operation
between a factorised column and constants runs on the distinct values only; rows are gathered
once, when two different columns meet or at the end. So ``[sex] = '1'`` over 10,000 records
compares two or three strings, not 10,000.

The semantics are those of :mod:`sgbm_redcap.logic.values` (see docs/logic.md);
:mod:`sgbm_redcap.logic.rowwise` is the independent per-row reference the tests compare with.
Every operation is total (a failure gives blank, never an exception), so ``if()`` evaluating
both branches and selecting per row gives the same result as REDCap's per-row short circuit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
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

try:  # private but long-standing; see _factorize
    from pandas._libs.hashtable import StringHashTable as _StringHashTable
except ImportError:  # pragma: no cover - other pandas builds
    _StringHashTable = None  # type: ignore[assignment,misc]

_EPOCH = datetime(1970, 1, 1)
_SEP = "\x1f"
_ARM = re.compile(r"_arm_(\d+)$")


def _obj(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _factorize(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, distinct values)`` of an object array of str.

    pandas' string hash table is about 4x faster than ``pd.factorize`` (no NA scan); it is a
    private API, so any surprise (another pandas, a non-str cell) falls back to the public one.
    """
    if _StringHashTable is not None and arr.dtype == object and len(arr) > _SMALL:
        try:
            uniques, codes = _StringHashTable(len(arr) // 8 + 8).factorize(arr)
            if len(codes) == len(arr) and (len(codes) == 0 or codes.min() >= 0):
                return np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object)
        except Exception:  # noqa: BLE001 - private API: fall back to the public one
            pass
    codes, uniques = pd.factorize(arr, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object)


class Vec:
    """Values of one node over all rows (``codes`` set: per distinct value).

    ``kind`` is the static kind of the node (``bool``, ``number``, ``text``). Text values are
    ``s`` (str, '' = blank) with their numeric reading ``x`` (NaN = not a number); numbers are
    ``x`` (NaN = blank); booleans ``b``. The other views are derived lazily.
    """

    __slots__ = ("kind", "codes", "_s", "_x", "_b", "_blank")

    def __init__(
        self,
        kind: str,
        *,
        codes: np.ndarray | None = None,
        s: np.ndarray | None = None,
        x: np.ndarray | None = None,
        b: np.ndarray | None = None,
    ):
        self.kind = kind
        self.codes = codes
        self._s = s
        self._x = x
        self._b = b
        self._blank: np.ndarray | None = None

    @property
    def size(self) -> int:
        for arr in (self._s, self._x, self._b):
            if arr is not None:
                return len(arr)
        return 0

    @property
    def s(self) -> np.ndarray:
        if self._s is None:
            if self.kind == "bool":
                self._s = np.where(self.b, "1", "0").astype(object)
            else:
                self._s = _format_numbers(self.x)
        return self._s

    @property
    def x(self) -> np.ndarray:
        if self._x is None:
            if self.kind == "bool":
                self._x = self.b.astype(float)
            else:
                self._x = _parse_numbers(self.s)
        return self._x

    @property
    def b(self) -> np.ndarray:
        if self._b is None:
            self._b = self.truthy()
        return self._b

    @property
    def blank(self) -> np.ndarray:
        if self._blank is None:
            if self.kind == "bool":
                self._blank = np.zeros(self.size, dtype=bool)
            elif self.kind == "number" and self._s is None:
                self._blank = np.isnan(self.x)
            else:
                self._blank = _eq_str(self.s, "")
        return self._blank

    def truthy(self) -> np.ndarray:
        if self._b is not None:
            return self._b
        if self.kind == "number":
            x = self.x
            return ~np.isnan(x) & (x != 0)
        return ~self.blank & ~(self.x == 0)

    def dense(self) -> Vec:
        if self.codes is None:
            return self
        c = self.codes
        out = Vec(
            self.kind,
            s=None if self._s is None else self._s[c],
            x=None if self._x is None else self._x[c],
            b=None if self._b is None else self._b[c],
        )
        return out


def _eq_str(arr: np.ndarray, value: str) -> np.ndarray:
    return np.asarray(arr == value, dtype=bool)


def _parse_numbers(s: np.ndarray) -> np.ndarray:
    """Numeric reading of text, computed once per distinct string."""
    if len(s) <= _SMALL:
        return np.array([_number_of(u) for u in s], dtype=float)
    codes, uniques = _factorize(s)
    return np.array([_number_of(u) for u in uniques], dtype=float)[codes]


_SMALL = 64


def _number_of(text: str) -> float:
    x = V.str_to_number(text)
    return np.nan if x is None else x


def _format_numbers(x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.empty(0, dtype=object)
    codes, uniques = pd.factorize(x, use_na_sentinel=False)
    texts = _obj(["" if math.isnan(u) else V.format_number(float(u)) for u in uniques])
    return texts[codes]


def _align(vecs: Sequence[Vec]) -> tuple[np.ndarray | None, list[Vec]]:
    """Put the operands on one footing: all on the same factorised codes (work per distinct
    value), or all dense (work per row). Constants (size 1, no codes) broadcast either way."""
    codes = None
    shared = True
    for v in vecs:
        if v.codes is not None:
            if codes is None:
                codes = v.codes
            elif v.codes is not codes:
                shared = False
        elif v.size != 1:
            shared = False
    if codes is not None and shared:
        return codes, list(vecs)
    return None, [v.dense() for v in vecs]


def _order(a: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    if op == "<":
        return np.asarray(a < b, dtype=bool)
    if op == "<=":
        return np.asarray(a <= b, dtype=bool)
    if op == ">":
        return np.asarray(a > b, dtype=bool)
    return np.asarray(a >= b, dtype=bool)


def compare(op: str, a: Vec, b: Vec) -> Vec:
    codes, (a, b) = _align([a, b])
    both_num = ~np.isnan(a.x) & ~np.isnan(b.x)
    blank_a, blank_b = a.blank, b.blank
    with np.errstate(invalid="ignore"):
        if op in ("=", "<>"):
            numeric = a.x == b.x
        else:
            numeric = _order(a.x, b.x, op)
    # Text comparison only where needed: neither blank and not both numbers.
    need_text = ~(blank_a | blank_b) & ~both_num
    result = np.where(both_num, numeric, False)
    if need_text.any():
        sa, sb = np.broadcast_arrays(a.s, b.s)
        idx = np.nonzero(np.broadcast_to(need_text, sa.shape))[0]
        if op in ("=", "<>"):
            text = np.asarray(sa[idx] == sb[idx], dtype=bool)
        else:
            text = _order(sa[idx], sb[idx], op)
        result = np.broadcast_to(result, sa.shape).copy()
        result[idx] = text
    if op in ("=", "<>"):
        either = blank_a | blank_b
        result = np.where(either, blank_a & blank_b, result)
        if op == "<>":
            result = ~result
    else:
        result = np.where(blank_a | blank_b, False, result)
    return Vec("bool", codes=codes, b=np.asarray(result, dtype=bool))


def arithmetic(op: str, a: Vec, b: Vec) -> Vec:
    codes, (a, b) = _align([a, b])
    x, y = a.x, b.x
    with np.errstate(all="ignore"):
        if op == "+":
            out = x + y
        elif op == "-":
            out = x - y
        elif op == "*":
            out = x * y
        elif op == "/":
            out = np.where(y == 0, np.nan, x / np.where(y == 0, 1.0, y))
        else:
            out = np.power(x, y)
    # IEEE gives pow(1, NaN) = pow(NaN, 0) = 1; a blank operand must stay blank.
    out = np.where(np.isnan(x) | np.isnan(y), np.nan, out)
    return _number(out, codes)


def _number(out: np.ndarray, codes: np.ndarray | None = None) -> Vec:
    out = np.asarray(out, dtype=float)
    out = np.where(np.isfinite(out), out, np.nan)
    return Vec("number", codes=codes, x=out)


def _text(out: np.ndarray, codes: np.ndarray | None = None) -> Vec:
    return Vec("text", codes=codes, s=out)


def _bool(out: np.ndarray, codes: np.ndarray | None = None) -> Vec:
    return Vec("bool", codes=codes, b=np.asarray(out, dtype=bool))


def _map_text(vecs: Sequence[Vec], fn: Callable[..., Any], kind: str) -> Vec:
    """Apply a scalar text function per distinct combination (shared codes) or per row."""
    codes, vecs = _align(vecs)
    arrays = np.broadcast_arrays(*[v.s for v in vecs])
    out = [fn(*items) for items in zip(*arrays, strict=True)]
    if kind == "text":
        return _text(_obj(["" if o is None else o for o in out]), codes)
    if kind == "bool":
        return _bool(np.array(out, dtype=bool), codes)
    return _number(np.array([np.nan if o is None else o for o in out], dtype=float), codes)


class Evaluator:
    """Evaluates many expressions over one table, sharing the factorised columns.

    ``evaluate()`` builds one per call; the dictionary linter, the checks and the benchmark
    keep one per table. Columns are cached: do not change the table while it is in use.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        today: date | None = None,
        now: datetime | None = None,
        dictionary: Any = None,
        missing_codes: Sequence[str] = (),
        smart_values: Mapping[str, str] | None = None,
        record_id: str | None = None,
    ):
        self.table = table
        self.spec = TableSpec(table, record_id)
        self.n = len(table)
        self.now = now or datetime.now()
        self.today = today or self.now.date()
        self.dictionary = dictionary
        self.missing_codes = frozenset(missing_codes)
        self.smart_values = dict(smart_values or {})
        self._columns: dict[str, Vec] = {}
        self._raw: dict[str, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._instance_numbers: np.ndarray | None = None
        self._lookups: dict[tuple[Any, ...], Vec] = {}

    # -- table access --------------------------------------------------------------------
    def raw(self, name: str) -> np.ndarray:
        """The column as an object array of str ('' for blank/NaN/NA)."""
        return self._factorized(name)[0]

    def _factorized(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(cells, codes, distinct)`` of a column, computed once per Evaluator."""
        if name not in self._raw:
            col = self.table[name]
            arr = col.to_numpy(dtype=object)
            codes, uniques = _factorize(arr)
            if not all(isinstance(u, str) for u in uniques):
                # NaN/None/NA read as blank, anything else as its text.
                col = col.astype(object).where(col.notna(), "")
                arr = col.map(lambda v: v if isinstance(v, str) else str(v)).to_numpy(
                    dtype=object
                )
                codes, uniques = _factorize(arr)
            self._raw[name] = arr
            self._codes[name] = (codes, uniques)
        return self._raw[name], *self._codes[name]

    def column(self, name: str, checkbox: bool = False) -> Vec:
        key = name + ("\x00cb" if checkbox else "")
        if key not in self._columns:
            _, codes, uniques = self._factorized(name)
            if checkbox:
                uniques = _obj(["0" if u == "" else u for u in uniques])
            self._columns[key] = Vec("text", codes=codes, s=uniques)
        return self._columns[key]

    def _meta(self, name: str) -> np.ndarray:
        if name in self.spec.columns:
            return self.raw(name)
        return np.full(self.n, "", dtype=object)

    @property
    def has_events(self) -> bool:
        return EVENT in self.spec.columns

    def instance_numbers(self) -> np.ndarray:
        """``redcap_repeat_instance`` per row as float (NaN = blank or not a positive integer)."""
        if self._instance_numbers is None:
            codes, uniques = _factorize(self._meta(INSTANCE))
            nums = [V.instance_number(u) for u in uniques]
            parsed = np.array([np.nan if k is None else float(k) for k in nums], dtype=float)
            self._instance_numbers = parsed[codes] if self.n else np.empty(0)
        return self._instance_numbers

    def current_instance(self) -> np.ndarray:
        nums = self.instance_numbers()
        return np.where(np.isnan(nums), 1.0, nums).astype(np.int64)

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, expression: Expression, as_: str | None = None) -> pd.Series:
        kind = as_ or result_kind(expression)
        vec = self.ev(expression).dense()
        if kind == "bool":
            out: np.ndarray = np.broadcast_to(vec.truthy(), (self.n,))
            return pd.Series(np.array(out, dtype=bool), index=self.table.index)
        if kind == "number":
            out = np.broadcast_to(vec.x, (self.n,))
            return pd.Series(np.array(out, dtype=float), index=self.table.index)
        out = np.broadcast_to(vec.s, (self.n,))
        return pd.Series(np.array(out, dtype=object), index=self.table.index, dtype=object)

    def ev(self, node: Expression) -> Vec:  # noqa: C901 - one dispatch
        if isinstance(node, FieldRef):
            return self.field(node)
        if isinstance(node, String):
            return _text(_obj([node.value]))
        if isinstance(node, Number):
            return _number(np.array([float(node.text)]))
        if isinstance(node, Boolean):
            return _bool(np.array([node.value]))
        if isinstance(node, SmartVariable):
            return self.smart(node)
        if isinstance(node, Unary):
            v = self.ev(node.operand)
            if node.op == "not":
                return _bool(~v.truthy(), v.codes)
            return _number(-v.x if node.op == "-" else v.x, v.codes)
        if isinstance(node, Binary):
            op = node.op
            a, b = self.ev(node.left), self.ev(node.right)
            if op in ("and", "or"):
                codes, (a, b) = _align([a, b])
                fn = np.logical_and if op == "and" else np.logical_or
                return _bool(fn(a.truthy(), b.truthy()), codes)
            if op in ("=", "<>", "<", "<=", ">", ">="):
                return compare(op, a, b)
            return arithmetic(op, a, b)
        if isinstance(node, Call):
            return self.call(node)
        raise LogicError(f"cannot evaluate {node!r}")

    # -- references ----------------------------------------------------------------------
    def field(self, ref: FieldRef) -> Vec:
        column = self.spec.column_for(ref)
        if column is None:
            return self.combined_checkbox(ref)
        checkbox = ref.code is not None
        if ref.event is None and ref.instance is None:
            vec = self.column(column, checkbox)
        else:
            key = (column, ref.event, ref.instance, checkbox)
            if key not in self._lookups:
                raw = self.lookup(column, ref)
                if checkbox:
                    raw = np.where(_eq_str(raw, ""), "0", raw).astype(object)
                codes, uniques = _factorize(raw)
                self._lookups[key] = Vec("text", codes=codes.astype(np.intp), s=uniques)
            vec = self._lookups[key]
        if "label" in ref.modifiers:
            labels = choice_labels(self.dictionary, ref.field)
            if ref.code is not None:
                code = ref.code
                s = _obj([labels.get(code, code) if u == "1" else "" for u in vec.s])
            else:
                s = _obj([labels.get(u, u) for u in vec.s])
            return _text(s, vec.codes)
        return vec

    def event_targets(self, name: str) -> np.ndarray:
        """Per row, the event an ``[event][field]`` reference points at ('' = none)."""
        if not self.has_events:
            raise LogicError(f"[{name}][...] needs a longitudinal table (redcap_event_name)")
        events = self.raw(EVENT)
        if name == "event-name":
            return events
        order = list(dict.fromkeys(events.tolist()))
        if name in ("first-event-name", "last-event-name"):
            target = (order[0] if name.startswith("first") else order[-1]) if order else ""
            return np.full(self.n, target, dtype=object)
        if name in ("previous-event-name", "next-event-name"):
            step = -1 if name.startswith("previous") else 1
            pos = {ev: k for k, ev in enumerate(order)}
            shifted = {
                ev: order[k + step] if 0 <= k + step < len(order) else ""
                for ev, k in pos.items()
            }
            codes, uniques = _factorize(events)
            return _obj([shifted[u] for u in uniques])[codes]
        return np.full(self.n, name, dtype=object)

    def lookup(self, column: str, ref: FieldRef) -> np.ndarray:
        """Raw values of ``column`` at another event and/or instance of the same record."""
        rec = self.raw(self.spec.record_id)
        values = self.raw(column)
        events = self._meta(EVENT)
        inst = self._meta(INSTANCE)
        instr = self._meta(INSTRUMENT)
        filled = ~_eq_str(values, "")
        if ref.event is not None:
            target_ev = self.event_targets(ref.event)
            valid = ~_eq_str(target_ev, "")
        else:
            target_ev = events
            valid = np.ones(self.n, dtype=bool)
        group = rec + _SEP + events
        target_group = rec + _SEP + target_ev
        if ref.instance is None:
            mask = filled & _eq_str(instr, "") & (_eq_str(inst, "") | _eq_str(inst, "1"))
            source_keys = group[mask]
            target_keys = target_group
        else:
            inst_num = self.instance_numbers()
            mask = filled & ~np.isnan(inst_num)
            target, ok = self.instance_targets(ref.instance, group, target_group, mask, inst_num)
            valid &= ok
            source_keys = group[mask] + _SEP + inst[mask]
            target_keys = target_group + _SEP + _obj([str(t) for t in target.tolist()])
        source = pd.Series(values[mask], index=source_keys)
        source = source[~source.index.duplicated(keep="first")]
        pos = source.index.get_indexer(target_keys)
        out = np.where(pos >= 0, source.to_numpy(dtype=object)[np.maximum(pos, 0)]
                       if len(source) else "", "")
        return np.where(valid, out, "").astype(object)

    def instance_targets(
        self,
        inst: str,
        group: np.ndarray,
        target_group: np.ndarray,
        mask: np.ndarray,
        inst_num: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        ones = np.ones(self.n, dtype=bool)
        if inst.isdigit():
            return np.full(self.n, int(inst), dtype=np.int64), ones
        cur = self.current_instance()
        if inst == "current-instance":
            return cur, ones
        if inst == "previous-instance":
            return cur - 1, cur - 1 >= 1
        if inst == "next-instance":
            return cur + 1, ones
        stats = pd.Series(inst_num[mask], index=group[mask]).groupby(level=0)
        agg = stats.min() if inst == "first-instance" else stats.max()
        pos = agg.index.get_indexer(target_group)
        found = pos >= 0
        vals = np.where(found, agg.to_numpy()[np.maximum(pos, 0)] if len(agg) else 0, 0)
        target = vals.astype(np.int64)
        if inst == "new-instance":
            target = target + 1
        return target, found

    def combined_checkbox(self, ref: FieldRef) -> Vec:
        options = self.spec.checkbox_options(ref.field)
        want = "0" if "unchecked" in ref.modifiers else "1"
        use_labels = bool({"checked", "unchecked", "label"} & set(ref.modifiers))
        labels = choice_labels(self.dictionary, ref.field) if use_labels else {}
        parts = np.full(self.n, "", dtype=object)
        for code, column in options:
            raw = self.raw(column)
            hit = _eq_str(np.where(_eq_str(raw, ""), "0", raw).astype(object), want)
            name = labels.get(code, code) if use_labels else code
            parts = np.where(
                hit, np.where(_eq_str(parts, ""), name, parts + ", " + name), parts
            ).astype(object)
        return _text(parts)

    def smart(self, node: SmartVariable) -> Vec:
        name = node.name
        if name in self.smart_values:
            return _text(_obj([self.smart_values[name]]))
        if name == "record-name":
            return self.column(self.spec.record_id)
        if name == "record-dag-name":
            if self.spec.dag is None:
                return _text(_obj([""]))
            return self.column(self.spec.dag)
        if name in ("event-name", "first-event-name", "last-event-name",
                    "previous-event-name", "next-event-name"):
            if not self.has_events:
                return _text(_obj([""]))
            return _text(self.event_targets(name))
        if name == "arm-number":
            if not self.has_events:
                return _text(_obj(["1"]))
            codes, uniques = _factorize(self.raw(EVENT))
            arms = _obj([(m.group(1) if (m := _ARM.search(u)) else "") for u in uniques])
            return _text(arms, codes.astype(np.intp))
        cur = self.current_instance()
        if name == "current-instance":
            return _text(_obj([str(c) for c in cur.tolist()]))
        if name == "previous-instance":
            return _text(_obj([str(c - 1) if c > 1 else "" for c in cur.tolist()]))
        if name == "next-instance":
            return _text(_obj([str(c + 1) for c in cur.tolist()]))
        if name in ("first-instance", "last-instance", "new-instance"):
            inst_num = self.instance_numbers()
            digit = ~np.isnan(inst_num)
            key = self.raw(self.spec.record_id) + _SEP + self._meta(EVENT) + _SEP + self._meta(
                INSTRUMENT
            )
            nums = pd.Series(inst_num, index=key)
            grouped = nums[digit].groupby(level=0)
            agg = grouped.min() if name == "first-instance" else grouped.max()
            pos = agg.index.get_indexer(key)
            val = agg.to_numpy()[np.maximum(pos, 0)] if len(agg) else np.zeros(self.n)
            if name == "new-instance":
                val = val + 1
            out = [
                (str(int(v)) if d else ("1" if name != "new-instance" else ""))
                for v, d in zip(val.tolist(), digit.tolist(), strict=True)
            ]
            return _text(_obj(out))
        raise LogicError(
            f"[{name}] has no value in a table of records; pass it in smart_values"
        )

    # -- functions -----------------------------------------------------------------------
    def call(self, node: Call) -> Vec:  # noqa: C901 - the function table
        name = ALIASES.get(node.name, node.name)
        args = node.args
        if name == "if":
            cond = self.ev(args[0])
            a, b = self.ev(args[1]), self.ev(args[2])
            kind = result_kind(node)
            codes, (cond, a, b) = _align([cond, a, b])
            c = cond.truthy()
            if kind == "bool":
                return _bool(np.where(c, a.truthy(), b.truthy()), codes)
            if kind == "number":
                return _number(np.where(c, a.x, b.x), codes)
            s = np.where(c, a.s, b.s).astype(object)
            x = np.where(c, a.x, b.x)
            return Vec("text", codes=codes, s=s, x=x)
        vals = [self.ev(a) for a in args]
        if name == "datediff":
            return self.datediff(vals)
        if name == "calcdate":
            return self.calcdate(vals)
        if name in ("round", "roundup", "rounddown"):
            digits = vals[1] if len(vals) > 1 else _number(np.array([0.0]))
            codes, (x, d) = _align([vals[0], digits])
            with np.errstate(all="ignore"):
                f = np.power(10.0, np.clip(np.trunc(d.x), *V.ROUND_DIGITS))
                scaled = np.abs(x.x) * f
                if name == "round":
                    r = np.floor(scaled + 0.5)
                elif name == "roundup":
                    r = np.ceil(scaled)
                else:
                    r = np.floor(scaled)
                return _number(np.copysign(r / f, x.x), codes)
        if name in ("sqrt", "abs", "exponential", "is_nan", "chkNull"):
            v = vals[0]
            x = v.x
            if name == "is_nan":
                return _bool(np.isnan(x), v.codes)
            with np.errstate(all="ignore"):
                if name == "sqrt":
                    out = np.where(x >= 0, np.sqrt(np.abs(x)), np.nan)
                elif name == "abs":
                    out = np.abs(x)
                elif name == "chkNull":
                    out = x
                else:
                    out = np.where(x < 710, np.exp(np.minimum(x, 709.0)), np.nan)
            return _number(out, v.codes)
        if name == "log":
            base = vals[1] if len(vals) > 1 else _number(np.array([math.e]))
            codes, (x, b) = _align([vals[0], base])
            with np.errstate(all="ignore"):
                ok = (x.x > 0) & (b.x > 0) & (b.x != 1)
                out = np.where(ok, np.log(x.x) / np.log(b.x), np.nan)
            return _number(out, codes)
        if name in ("mod", "powRC"):
            codes, (a, b) = _align(vals)
            if name == "powRC":
                return arithmetic("^", a, b)
            with np.errstate(all="ignore"):
                out = np.where(b.x != 0, np.fmod(a.x, np.where(b.x == 0, 1.0, b.x)), np.nan)
            return _number(out, codes)
        if name in ("min", "max", "sum", "mean", "median", "stdev"):
            return self.aggregate(name, vals)
        if name == "isnumber":
            codes, (v,) = _align(vals)
            return _bool(~np.isnan(v.x), codes)
        if name == "isinteger":
            v = vals[0]
            if v.kind == "text":
                return _map_text([v], lambda s: bool(V.INTEGER_RE.fullmatch(s)), "bool")
            x = v.x
            return _bool(~np.isnan(x) & (np.floor(x) == x), v.codes)
        if name in ("contains", "not_contain", "starts_with", "ends_with"):
            fn: Callable[..., Any] = {
                "contains": lambda h, n: n.lower() in h.lower(),
                "not_contain": lambda h, n: n.lower() not in h.lower(),
                "starts_with": lambda h, n: h.lower().startswith(n.lower()),
                "ends_with": lambda h, n: h.lower().endswith(n.lower()),
            }[name]
            return _map_text(vals, fn, "bool")
        if name in ("left", "right", "mid"):
            return self.substring(name, vals)
        if name == "length":
            codes, (v,) = _align(vals)
            return _number(np.array([len(s) for s in v.s], dtype=float), codes)
        if name == "find":
            return _map_text(vals, lambda n, h: float(h.lower().find(n.lower()) + 1), "number")
        if name == "concat":
            return _map_text(vals, lambda *p: "".join(p), "text")
        if name == "concat_ws":
            return _map_text(vals, lambda sep, *p: sep.join(q for q in p if q != ""), "text")
        if name == "upper":
            return _map_text(vals, str.upper, "text")
        if name == "lower":
            return _map_text(vals, str.lower, "text")
        if name == "trim":
            return _map_text(vals, str.strip, "text")
        if name == "replace_text":
            return _map_text(vals, lambda h, o, n: h.replace(o, n) if o else h, "text")
        if name in ("year", "month", "day"):
            codes, (v,) = _align(vals)
            parts = []
            for s in v.s:
                moment = V.resolve_date(s, None, self.today, self.now)
                parts.append(np.nan if moment is None else float(getattr(moment[0], name)))
            return _number(np.array(parts, dtype=float), codes)
        if name == "calctext":
            return vals[0]
        if name in ("isblankormissingcode", "isblanknotmissingcode", "hasmissingcode",
                    "ismissingcode"):
            codes, (v,) = _align(vals)
            blank = v.blank
            missing = np.array([s in self.missing_codes for s in v.s], dtype=bool)
            if name == "isblankormissingcode":
                return _bool(blank | missing, codes)
            if name == "isblanknotmissingcode":
                return _bool(blank, codes)
            return _bool(missing, codes)
        raise LogicError(f"{node.name}() is not a REDCap function")

    def substring(self, name: str, vals: list[Vec]) -> Vec:
        codes, vecs = _align(vals)
        texts = vecs[0].s
        nums = [v.x for v in vecs[1:]]
        arrays = np.broadcast_arrays(texts, *nums)
        out = []
        for items in zip(*arrays, strict=True):
            text = items[0]
            if any(math.isnan(k) for k in items[1:]):
                out.append("")
            elif name == "left":
                out.append(text[: max(0, int(items[1]))])
            elif name == "right":
                k = max(0, int(items[1]))
                out.append(text[len(text) - k:] if k else "")
            else:
                start = max(1, int(items[1])) - 1
                out.append(text[start : start + max(0, int(items[2]))])
        return _text(_obj(out), codes)

    def aggregate(self, name: str, vals: list[Vec]) -> Vec:
        codes, vecs = _align(vals)
        xs = np.broadcast_arrays(*[v.x for v in vecs])
        with np.errstate(all="ignore"):
            count = np.zeros(xs[0].shape)
            total = np.zeros(xs[0].shape)
            for x in xs:
                ok = ~np.isnan(x)
                count += ok
                total = np.where(ok, total + np.where(ok, x, 0.0), total)
            none = count == 0
            if name == "min":
                out = np.fmin.reduce(np.vstack(xs), axis=0)
            elif name == "max":
                out = np.fmax.reduce(np.vstack(xs), axis=0)
            elif name == "sum":
                out = total
            elif name == "mean":
                out = total / np.maximum(count, 1)
            elif name == "median":
                stacked = np.sort(np.vstack(xs), axis=0)  # NaN sorts last
                k = count.astype(int)
                cols = np.arange(stacked.shape[1])
                lo = stacked[np.maximum((k - 1) // 2, 0), cols]
                hi = stacked[np.maximum(k // 2, 0), cols]
                out = np.where(k % 2 == 1, lo, (lo + hi) / 2)
            else:
                mean = total / np.maximum(count, 1)
                ss = np.zeros(xs[0].shape)
                for x in xs:
                    ok = ~np.isnan(x)
                    ss = np.where(ok, ss + (np.where(ok, x, 0.0) - mean) ** 2, ss)
                out = np.where(count >= 2, np.sqrt(ss / np.maximum(count - 1, 1)), np.nan)
        return _number(np.where(none, np.nan, out), codes)

    def _moments(self, v: Vec, fmt: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Seconds since 1970 (NaN = not a date) and has-time flags, per distinct text."""
        codes, uniques = _factorize(v.s) if v.size > 1 else (None, v.s)
        secs, timed = [], []
        for u in uniques:
            moment = V.resolve_date(u, fmt, self.today, self.now)
            if moment is None:
                secs.append(np.nan)
                timed.append(False)
            else:
                secs.append((moment[0] - _EPOCH).total_seconds())
                timed.append(moment[1])
        s_arr, t_arr = np.array(secs, dtype=float), np.array(timed, dtype=bool)
        if codes is not None:
            return s_arr[codes], t_arr[codes]
        return s_arr, t_arr

    def datediff(self, vals: list[Vec]) -> Vec:
        options = vals[3:]
        if any(o.size != 1 or o.codes is not None for o in options):
            return self._datediff_per_row(vals)
        fmt = None
        signed = False
        rest = list(options)
        if rest and str(rest[0].s[0]).lower() in DATE_FORMATS:
            fmt = str(rest[0].s[0]).lower()
            rest = rest[1:]
        if rest:
            r = rest[0]
            signed = not (r.kind == "text" and str(r.s[0]).strip().lower() == "false") and bool(
                r.truthy()[0]
            )
        codes, (a, b, unit) = _align(vals[:3])
        sa, _ = self._moments(a, fmt)
        sb, _ = self._moments(b, fmt)
        per = np.array([V.UNIT_SECONDS.get(u, np.nan) for u in unit.s], dtype=float)
        with np.errstate(invalid="ignore"):
            diff = (sb - sa) / per
        return _number(diff if signed else np.abs(diff), codes)

    def _datediff_per_row(self, vals: list[Vec]) -> Vec:
        """datediff whose format/sign arguments vary by row (never seen in practice)."""
        columns = [v.dense() for v in vals]
        arrays = np.broadcast_arrays(*[v.s for v in columns])
        signs = np.broadcast_arrays(*[v.truthy() for v in columns])
        out = []
        for k, items in enumerate(zip(*arrays, strict=True)):
            unit, fmt, signed_at = items[2], None, 3
            if len(items) > 3 and items[3].lower() in DATE_FORMATS:
                fmt, signed_at = items[3].lower(), 4
            signed = False
            if len(items) > signed_at:
                text = items[signed_at]
                signed = text.strip().lower() != "false" and bool(signs[signed_at][k])
            a = V.resolve_date(items[0], fmt, self.today, self.now)
            b = V.resolve_date(items[1], fmt, self.today, self.now)
            if a is None or b is None or unit not in V.UNIT_SECONDS:
                out.append(np.nan)
                continue
            diff = (b[0] - a[0]).total_seconds() / V.UNIT_SECONDS[unit]
            out.append(diff if signed else abs(diff))
        return _number(np.array(out, dtype=float))

    def calcdate(self, vals: list[Vec]) -> Vec:
        codes, (d, amount, unit) = _align(vals)
        secs, timed = self._moments(d, None)
        per = np.array([V.UNIT_SECONDS.get(u, np.nan) for u in unit.s], dtype=float)
        secs, timed, amt, per = np.broadcast_arrays(secs, timed, amount.x, per)
        out = []
        for s, t, a, p in zip(secs.tolist(), timed.tolist(), amt.tolist(), per.tolist(),
                              strict=True):
            if math.isnan(s) or math.isnan(a) or math.isnan(p):
                out.append("")
                continue
            seconds = a * p
            start = V.add_to_moment(_EPOCH, s)
            moment = None if start is None else V.add_to_moment(start, seconds)
            out.append("" if moment is None else V.format_moment(moment, t or seconds % 86400 != 0))
        return _text(_obj(out), codes)


def evaluate(
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
    """Evaluate ``expression`` over every row of ``table`` (a flat export of raw strings).

    Returns a Series aligned to ``table.index``: bool for logic (blank counts as False), float
    for numeric expressions (NaN = blank), str for text ('' = blank). ``as_`` forces one of
    ``'bool'``, ``'number'``, ``'text'``. ``today``/``now`` fix ``'today'``/``'now'`` (tests);
    ``dictionary`` supplies choice labels for ``:label``; ``missing_codes`` the project's
    missing-data codes; ``smart_values`` values for smart variables a table cannot hold
    (``user-name``, ...). Raises :class:`~sgbm_redcap.errors.LogicError` for a field the
    table lacks.
    """
    ev = Evaluator(
        table,
        today=today,
        now=now,
        dictionary=dictionary,
        missing_codes=missing_codes,
        smart_values=smart_values,
        record_id=record_id,
    )
    return ev.evaluate(expression, as_=as_)
