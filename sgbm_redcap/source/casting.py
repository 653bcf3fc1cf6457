"""Typing a flat export's raw strings from the data dictionary.

One rule per field (``column_kind`` says which, and why). A value that does not fit its
declared type is never turned into NaN: the whole column is kept as raw text and every misfit
is reported as a row of ``type_problems`` (so one bad date cannot silently vanish from an
analysis; the typed column comes back once the value is corrected in REDCap).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary.model import VALIDATION_ALIASES
from sgbm_redcap.study_codes import FormStatus, YesNo

#: REDCap's form-status codes (``<form>_complete``).
FORM_STATUS = {status.value: status.label for status in FormStatus}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2})?$")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")

PROBLEM_COLUMNS = [
    "record_id", "redcap_event_name", "form", "redcap_repeat_instance",
    "field", "value", "expected",
]


@dataclass(frozen=True)
class ColumnKind:
    """How one export column is typed: ``kind`` is one of date, datetime, integer, number,
    boolean, category, checkbox, text; ``reason`` says which dictionary entry decided it."""

    kind: str
    reason: str
    choices: tuple[tuple[str, str], ...] = ()
    comma_decimal: bool = False


def _validation(field: Any) -> str:
    v = str(getattr(field, "validation_type", None) or getattr(field, "validation", "") or "")
    v = v.strip().lower()
    return VALIDATION_ALIASES.get(v, v)


def column_kind(field: Any) -> ColumnKind:
    """The typing rule for a dictionary field (checkbox fields: for each option column)."""
    ftype = str(field.field_type or "").strip().lower()
    validation = _validation(field)
    choices = tuple((str(k), str(v)) for k, v in (getattr(field, "choices", None) or {}).items())
    if ftype in ("radio", "dropdown", "select"):
        return ColumnKind("category", f"field type {ftype!r}", choices)
    if ftype in ("yesno", "truefalse"):
        return ColumnKind("boolean", f"field type {ftype!r}")
    if ftype == "checkbox":
        return ColumnKind("checkbox", "field type 'checkbox'", choices)
    if ftype == "slider":
        return ColumnKind("integer", "field type 'slider'")
    if ftype == "calc":
        return ColumnKind("number", "field type 'calc'")
    if ftype == "text":
        why = f"validation {validation!r}"
        if validation.startswith("date_"):
            return ColumnKind("date", why)
        if validation.startswith("datetime_"):
            return ColumnKind("datetime", why)
        if validation == "integer":
            return ColumnKind("integer", why)
        if validation.startswith("number"):
            return ColumnKind("number", why, comma_decimal="comma_decimal" in validation)
    return ColumnKind("text", f"field type {ftype!r}" + (f", validation {validation!r}"
                                                        if validation else ""))


def _unique_labels(choices: Iterable[tuple[str, str]]) -> dict[str, str]:
    """code -> label, with labels made unique (a Categorical needs distinct categories)."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for code, label in choices:
        name = label if label and label not in seen else f"{label} ({code})"
        seen.add(name)
        out[code] = name
    return out


def _stripped(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(text, blank mask). Values are not stripped: a value with stray spaces does not fit a
    typed field and is reported like any other misfit."""
    text = (raw if raw.dtype == object else raw.astype(object)).fillna("")
    return text, text.eq("")


def _boolean(text: pd.Series, blank: pd.Series) -> tuple[pd.Series, pd.Series]:
    typed = text.map(_BOOLEAN_CODES).astype("boolean")
    return typed, ~blank & typed.isna()


_BOOLEAN_CODES = {YesNo.YES.value: True, YesNo.NO.value: False}


def cast_column(raw: pd.Series, kind: ColumnKind) -> tuple[pd.Series, pd.Series]:
    """(typed column, mask of values that do not fit). ``raw`` holds strings, '' = blank."""
    text, blank = _stripped(raw)
    if kind.kind in ("date", "datetime"):
        pattern = _DATE if kind.kind == "date" else _DATETIME
        fits = text.str.match(pattern.pattern)
        candidates = text.where(fits & ~blank)
        if kind.kind == "date":
            typed = pd.to_datetime(candidates, format="%Y-%m-%d", errors="coerce")
        else:
            typed = pd.to_datetime(candidates.str.replace("T", " "), format="ISO8601",
                                   errors="coerce")
        return typed.astype("datetime64[ns]"), ~blank & typed.isna()
    if kind.kind == "integer":
        fits = text.str.match(_INTEGER.pattern)
        numbers = pd.to_numeric(text.where(fits & ~blank), errors="coerce")
        return numbers.astype("Int64"), ~blank & ~fits
    if kind.kind == "number":
        values = text.str.replace(",", ".", regex=False) if kind.comma_decimal else text
        numbers = pd.to_numeric(values.where(~blank), errors="coerce").astype(float)
        bad = ~blank & ~np.isfinite(numbers.to_numpy())
        return numbers.astype("Float64"), bad
    if kind.kind == "boolean":
        return _boolean(text, blank)
    if kind.kind == "category":
        labels = _unique_labels(kind.choices)
        codes = pd.Categorical(text.where(~blank), categories=list(labels))
        bad = pd.Series(~blank.to_numpy() & codes.isna(), index=raw.index)
        typed = codes.rename_categories(list(labels.values()))
        return pd.Series(typed, index=raw.index), bad
    return raw.where(~blank).astype("string"), pd.Series(False, index=raw.index)


def cast_checkbox_option(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    text, blank = _stripped(raw)
    return _boolean(text, blank)


def raw_text(raw: pd.Series) -> pd.Series:
    """The fallback for a column whose values do not all fit: raw text, blank = <NA>."""
    text, blank = _stripped(raw)
    return raw.where(~blank).astype("string")


# -- the fast path: the same rules, each distinct value typed once ---------------------------

#: Kinds whose rule is applied to a column's distinct values (parsing dominates their cost).
_BY_DISTINCT_VALUE = ("date", "datetime", "integer", "number")


def cast_values(values: np.ndarray, kind: ColumnKind) -> tuple[Any, np.ndarray]:
    """``cast_column`` / ``cast_checkbox_option`` for an object array of strings ('' blank):
    (typed array for a Series, boolean mask of misfits). The same result value for value:
    dates and numbers are typed by ``cast_column`` once per distinct value and spread back
    (every rule types a value on its own, so this cannot change a result); booleans,
    checkboxes, categories and text use the same rules on plain arrays, skipping the
    per-column Series work that dominated typing (issue 16)."""
    if kind.kind in _BY_DISTINCT_VALUE:
        return cast_many([values], kind)[0]
    blank = values == ""
    if kind.kind in ("boolean", "checkbox"):
        yes, no = values == "1", values == "0"
        known = yes | no
        return pd.arrays.BooleanArray(yes, ~known), ~blank & ~known
    if kind.kind == "category":
        labels = _unique_labels(kind.choices)
        codes = pd.Categorical(np.where(blank, None, values), categories=list(labels))
        bad = ~blank & (codes.codes == -1)
        return codes.rename_categories(list(labels.values())), bad
    return text_values(values, blank), np.zeros(len(values), dtype=bool)


def cast_many(columns: list[np.ndarray], kind: ColumnKind) -> list[tuple[Any, np.ndarray]]:
    """``cast_values`` of several columns of one kind, typing their distinct values in one
    ``cast_column`` call (its fixed cost, not the values, dominated small columns)."""
    if kind.kind not in _BY_DISTINCT_VALUE:
        return [cast_values(values, kind) for values in columns]
    if kind.kind == "integer" and len(columns) > 1:
        # to_numeric reads a column holding a blank or a misfit as float64, so integers
        # beyond 2**53 round only in such columns: pooling columns would spread that
        return [cast_many([values], kind)[0] for values in columns]
    values = np.concatenate(columns) if len(columns) != 1 else columns[0]
    codes, uniques = _factorize_exactly(values)
    typed, bad = cast_column(pd.Series(uniques, dtype=object), kind)
    typed_all, bad_all = typed.array.take(codes), bad.to_numpy(dtype=bool)[codes]
    out, start = [], 0
    for column in columns:
        end = start + len(column)
        out.append((typed_all[start:end], bad_all[start:end]))
        start = end
    return out


def _factorize_exactly(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of strings, checked: its string hash table reads C strings, so a value
    holding a NUL character ("\\x00") collides with the text before it (found by the property
    test: '' and '\\x00'). Such a column is factorised by a Python dict instead."""
    codes, uniques = pd.factorize(values)
    if np.array_equal(uniques.take(codes) if len(codes) else values, values):
        return codes, uniques
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.intp,
                        count=len(values))
    return codes, np.array(list(index), dtype=object)


def text_values(values: np.ndarray, blank: np.ndarray | None = None) -> Any:
    """``raw_text`` for an object array of strings: a ``string`` array, blank = <NA>."""
    if blank is None:
        blank = values == ""
    return pd.array(np.where(blank, None, values), dtype="string")
