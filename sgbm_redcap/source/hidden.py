"""What REDCap hides once values change: the part of the as-of-cut-off view
(:mod:`sgbm_redcap.source.asof`) that blanks a field whose branching logic no longer holds
and a calculated field whose inputs changed, evaluated with the project's logic engine."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.errors import LogicError
from sgbm_redcap.logic import evaluate, parse
from sgbm_redcap.logic.context import form_context
from sgbm_redcap.logic.refs import referenced_fields

log = logging.getLogger(__name__)


def blank_value(column: str, dictionary: Any) -> str:
    """The export's blank: '0' for a checkbox option, '' otherwise."""
    name = column.split("___")[0]
    f = dictionary.get(name)
    return "0" if f is not None and f.field_type == "checkbox" and "___" in column else ""


def hide_changed(out: pd.DataFrame, dictionary: Any, changed: set[str], before: pd.DataFrame,
                 rounds: int = 5) -> None:
    """Blank the values whose branching logic held in ``before`` and no longer holds in
    ``out`` because of ``changed`` columns, and the calculated fields that read a changed
    value (their stored result is from data the cut-off does not know); repeated while
    blanking changes more."""
    for _ in range(rounds):
        now: set[str] = set()
        for f in dictionary:
            if f.field_type == "calc":
                now |= _clear_calc(out, dictionary, f, changed, before)
                continue
            logic = (f.branching_logic or "").strip()
            if not logic or f.field_type == "descriptive":
                continue
            try:
                if not set(referenced_fields(logic)) & _names(changed):
                    continue
                tree = parse(logic)
                shown_now = _shown(tree, out, dictionary, f.form)
                shown_before = _shown(tree, before, dictionary, f.form).reindex(
                    shown_now.index, fill_value=False)
            except LogicError as exc:
                log.debug("branching logic of %s not evaluated: %s", f.name, exc)
                continue
            hidden = shown_before & ~shown_now
            if hidden.any():
                now |= _set_blank(out, dictionary, f, hidden[hidden].index)
        if not now:
            return
        changed = now


def _clear_calc(out: pd.DataFrame, dictionary: Any, f: Any, changed: set[str],
                before: pd.DataFrame) -> set[str]:
    """Blank calculated field ``f`` in the records where a value it reads was changed."""
    try:
        reads = set(referenced_fields(f.calculation)) & _names(changed)
    except LogicError:
        return set()
    if not reads or f.name not in out.columns:
        return set()
    columns = [c for c in out.columns if c.split("___")[0] in reads]
    old = before.loc[out.index, columns]
    touched = (out[columns] != old).any(axis=1)
    records = set(out.loc[touched, dictionary.record_id])
    return _set_blank(out, dictionary, f, out.index[out[dictionary.record_id].isin(records)])


def _set_blank(out: pd.DataFrame, dictionary: Any, f: Any, rows: pd.Index) -> set[str]:
    """Blank ``f``'s export columns on ``rows``; the columns that changed."""
    done = set()
    for column in f.export_columns():
        if column not in out.columns:
            continue
        blank = blank_value(column, dictionary)
        filled = out.loc[rows, column] != blank
        if filled.any():
            out.loc[filled[filled].index, column] = blank
            done.add(column)
    return done


def _names(columns: set[str]) -> set[str]:
    return {c.split("___")[0] for c in columns}


def _shown(tree: Any, flat: pd.DataFrame, dictionary: Any, form: str) -> pd.Series:
    """Where logic ``tree`` holds on ``form``'s rows of ``flat`` (index of ``flat``)."""
    rows = form_context(flat, dictionary, form)
    if rows.empty:
        return pd.Series(False, index=rows.index, dtype=bool)
    value = evaluate(tree, rows, dictionary=dictionary)
    return pd.Series(np.asarray(value.fillna(False), dtype=bool), index=rows.index)
