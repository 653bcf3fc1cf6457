"""Context tables for branching logic of one form (CONTRACTS §2).

Branching logic on a repeating form may mention fields of non-repeating forms
(``[eligible] = '1'``); in a flat export those values sit on the record's base row, not on the
instance row. ``form_context`` gives each row of the form the values it can see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from sgbm_redcap.errors import LogicError

from .tables import DAG, EVENT, INSTANCE, INSTRUMENT, TableSpec

_META = {EVENT, INSTRUMENT, INSTANCE, DAG}


def fill_from_base(rows: pd.DataFrame, base: pd.DataFrame, keys: Sequence[str],
                   columns: Iterable[str]) -> pd.DataFrame:
    """``rows`` with each blank cell of ``columns`` taken from the base row of the same
    ``keys`` (record id, and event when longitudinal): for the instance rows of a repeating
    form, the record's non-repeating values. The one implementation of that rule.

    Blank is ``''`` or missing; ``'0'`` is a value and is kept (an unchecked option, a "No").
    A column of ``columns`` that ``rows`` lacks is added. The result keeps ``rows``' index and
    holds strings in the filled columns.
    """
    columns = [c for c in dict.fromkeys(columns) if c in base.columns and c not in keys]
    out = rows.copy()
    if not columns or out.empty:
        for column in columns:
            if column not in out.columns:
                out[column] = ""
        return out
    base_values = base.drop_duplicates(list(keys))[[*keys, *columns]]
    merged = out[list(keys)].merge(base_values, on=list(keys), how="left")
    merged.index = out.index
    for column in columns:
        theirs = merged[column].fillna("").astype(str)
        if column in out.columns:
            mine = out[column].fillna("").astype(str)
            out[column] = mine.where(mine != "", theirs)
        else:
            out[column] = theirs
    return out


def form_context(flat: pd.DataFrame, dictionary: Any, form: str) -> pd.DataFrame:
    """Rows of ``form`` with the record's non-repeating values filled in.

    For a repeating form: one row per instance (``redcap_repeat_instrument == form``), where
    every blank cell takes the value of the record's base row (same event when
    longitudinal; :func:`fill_from_base`). For a non-repeating form: the base rows
    themselves. The index is that of ``flat``, so results line up with the flat export.
    ``dictionary`` (duck-typed, may be ``None``) is used to reject unknown form names.
    """
    forms = getattr(dictionary, "forms", None)
    if forms is not None and form not in forms:
        raise LogicError(f"{form!r} is not a form of the dictionary")
    spec = TableSpec(flat)
    instr = (
        flat[INSTRUMENT].fillna("").astype(str)
        if INSTRUMENT in flat.columns
        else pd.Series("", index=flat.index)
    )
    base = flat[instr == ""]
    rows = flat[instr == form]
    if rows.empty:
        return base.copy()
    keys = [spec.record_id] + ([EVENT] if EVENT in flat.columns else [])
    fill_columns = [c for c in flat.columns if c not in _META and c not in keys]
    return fill_from_base(rows, base, keys, fill_columns)
