"""Context tables for branching logic of one form (CONTRACTS §2).

Branching logic on a repeating form may mention fields of non-repeating forms
(``[eligible] = '1'``); in a flat export those values sit on the record's base row, not on the
instance row. ``form_context`` gives each row of the form the values it can see.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sgbm_redcap.errors import LogicError

from .tables import DAG, EVENT, INSTANCE, INSTRUMENT, TableSpec

_META = {EVENT, INSTRUMENT, INSTANCE, DAG}


def form_context(flat: pd.DataFrame, dictionary: Any, form: str) -> pd.DataFrame:
    """Rows of ``form`` with the record's non-repeating values filled in.

    For a repeating form: one row per instance (``redcap_repeat_instrument == form``), where
    every blank cell takes the value of the record's base row (same event when
    longitudinal). For a non-repeating form: the base rows themselves. The index is that of
    ``flat``, so results line up with the flat export. ``dictionary`` (duck-typed, may be
    ``None``) is used to reject unknown form names.
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
    base_values = base.drop_duplicates(keys)[keys + fill_columns]
    merged = rows[keys].merge(base_values, on=keys, how="left")
    merged.index = rows.index
    out = rows.copy()
    for column in fill_columns:
        mine = out[column].fillna("").astype(str)
        theirs = merged[column].fillna("").astype(str)
        out[column] = mine.where(mine != "", theirs)
    return out
