"""Value by value: what changed between the flat exports of two cuts.

One row per changed cell (``VALUE_COLUMNS``): the record, the instrument and instance of the
row, the field, the value before and after ('' = blank), and whether the row existed in the
older cut. Workflow columns are left out (the ``<form>_complete`` statuses, calc fields, which
follow their inputs, the DAG column) and so is any instrument the caller names (the
``data_queries`` instrument: queries are the sweep's, not the sites' data).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.source.tables import DAG, EVENT, INSTANCE, INSTRUMENT

VALUE_COLUMNS = ["record_id", "event", "form", "instance", "field", "column", "old", "new",
                 "row_in_old"]
#: rows compared at a time (bounds the memory of a 10,000-patient diff)
_CHUNK = 20_000


def column_fields(*dictionaries: Dictionary) -> dict[str, tuple[str, str]]:
    """Export column → (field, form), from every dictionary given (newest last wins)."""
    out: dict[str, tuple[str, str]] = {}
    for d in dictionaries:
        for f in d.fields:
            if f.field_type == "calc":
                continue
            for column in f.export_columns():
                out[column] = (f.name, f.form)
    return out


def value_changes(old: pd.DataFrame, new: pd.DataFrame, old_dict: Dictionary,
                  new_dict: Dictionary, *, skip_forms: Iterable[str] = ()) -> pd.DataFrame:
    """Every cell that differs between the ``old`` and ``new`` raw exports."""
    rid = new_dict.record_id
    event = [EVENT] if EVENT in new.columns or EVENT in old.columns else []
    keys = [rid, *event, INSTRUMENT, INSTANCE]  # missing ones are filled with ''
    fields = column_fields(old_dict, new_dict)
    skip = set(skip_forms)
    columns = [c for c in dict.fromkeys([*new.columns, *old.columns])
               if c not in keys and c != DAG and c in fields and fields[c][1] not in skip]
    a = _indexed(old, keys, columns)
    b = _indexed(new, keys, columns)
    parts = [_cell_changes(a, b, a.index.intersection(b.index, sort=False), columns, True)]
    added = b.index.difference(a.index, sort=False)
    parts.append(_cell_changes(None, b, added, columns, False))
    removed = a.index.difference(b.index, sort=False)
    parts.append(_cell_changes(a, None, removed, columns, False))
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(
        len(p) for p in parts) else pd.DataFrame(columns=VALUE_COLUMNS)
    if frame.empty:
        return pd.DataFrame(columns=VALUE_COLUMNS)
    frame["field"] = frame["column"].map(lambda c: fields[c][0])
    frame["form"] = frame["column"].map(lambda c: fields[c][1])
    # a repeating row holds only its instrument's fields; the others are blank by design
    instr = frame["instrument"]
    frame = frame[(instr == "") | (instr == frame["form"])]
    return frame[VALUE_COLUMNS].reset_index(drop=True)


def _indexed(raw: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    frame = raw.copy()
    for k in keys:
        if k not in frame.columns:
            frame[k] = ""
    frame = frame.drop_duplicates(keys, keep="last").set_index(keys)
    return frame.reindex(columns=columns, fill_value="")


def _cell_changes(a: pd.DataFrame | None, b: pd.DataFrame | None, index: pd.Index,
                  columns: list[str], in_old: bool) -> pd.DataFrame:
    found: list[pd.DataFrame] = []
    for start in range(0, len(index), _CHUNK):
        chunk = index[start:start + _CHUNK]
        old = (a.loc[chunk].to_numpy(dtype=object) if a is not None
               else np.full((len(chunk), len(columns)), "", dtype=object))
        new = (b.loc[chunk].to_numpy(dtype=object) if b is not None
               else np.full((len(chunk), len(columns)), "", dtype=object))
        rows, cols = np.nonzero(old != new)
        if not len(rows):
            continue
        keys = chunk[rows]
        frame = pd.DataFrame({
            "record_id": [str(k[0]) for k in keys],
            "event": [str(k[1]) if len(k) > 3 else "" for k in keys],
            "instrument": [str(k[-2]) for k in keys],
            "instance": [str(k[-1]) for k in keys],
            "column": np.asarray(columns, dtype=object)[cols],
            "old": old[rows, cols], "new": new[rows, cols], "row_in_old": in_old,
        })
        found.append(frame)
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()
