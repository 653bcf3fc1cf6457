"""Calculated fields: REDCap re-runs every calc of a record after each save.

Uses ``sgbm_redcap.logic`` (CONTRACTS §2) on a context table of the touched records holding
only the fields the calcs read (found from the parser's AST, ``logic.refs``); a repeating
row's context comes from ``logic.context.fill_from_base``, the one context-table rule.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from sgbm_redcap.dictionary.model import checkbox_column
from sgbm_redcap.errors import LogicError
from sgbm_redcap.logic import evaluate, parse
from sgbm_redcap.logic.context import fill_from_base
from sgbm_redcap.logic.refs import references

from .meta import ProjectMeta
from .rows import RowKey, applicable_forms

log = logging.getLogger(__name__)


def format_number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10g}"


def _references(meta: ProjectMeta, calcs: list[Any]) -> tuple[set[str], set[tuple[str, str]]]:
    """The plain fields and the (checkbox, code) options the calcs read (from the logic
    parser's AST; a calc that does not parse reads nothing: it cannot be evaluated)."""
    plain: set[str] = set()
    boxes: set[tuple[str, str]] = set()
    for f in calcs:
        try:
            refs = references(f.calc).refs
        except LogicError:
            continue
        for ref in refs:
            target = meta.fields.get(ref.field)
            if target is not None and target.ftype == "checkbox":
                boxes.update((ref.field, c) for c in ([ref.code] if ref.code else target.choices))
            elif ref.field in meta.fields or ref.field.endswith("_complete"):
                plain.add(ref.field)
    return plain, boxes


def _row_local(meta: ProjectMeta, calcs: list[Any]) -> bool:
    """True when every calc reads plain fields of its own row only: no ``[event][field]``,
    ``[field][instance]`` or smart variable that could look at another row, and no name that
    is neither a field nor a form status (a calc that does not parse is not local)."""
    cache = meta.cache
    got = cache.get("calcs_row_local")
    if got is None:
        got = all(_reads_own_row(meta, f.calc) for f in calcs)
        cache["calcs_row_local"] = got
    return got


def _reads_own_row(meta: ProjectMeta, text: str) -> bool:
    try:
        refs = references(text)
    except LogicError:
        return False
    return refs.row_local and all(
        name in meta.fields or (name.endswith("_complete") and name[:-9] in meta.form_fields)
        for name in refs.fields)


def recalculate(meta: ProjectMeta, rows: dict[RowKey, dict[str, Any]],
                records: list[str], *, in_place: bool = False) -> dict[RowKey, dict[str, Any]]:
    """New values of the rows of ``records`` whose calc results changed (``rows`` holds every
    stored row of those records). ``in_place``: the caller owns the row dicts, so a changed
    row is updated where it is instead of copied first."""
    calcs = [f for f in meta.fields.values() if f.ftype == "calc" and f.calc.strip()]
    wanted = set(records)
    keys = [k for k in rows if k[0] in wanted]
    if not calcs or not keys:
        return {}
    # the rows showing each calc's form, in the rows' order (forms looked up once per shape)
    calc_forms = list(dict.fromkeys(f.form for f in calcs))
    rows_of_form: dict[str, list[RowKey]] = {form: [] for form in calc_forms}
    shown: dict[tuple[str, str, bool], tuple[str, ...]] = {}
    for key in keys:
        shape = (key[1], key[2], bool(key[3]))
        hit = shown.get(shape)
        if hit is None:
            forms = applicable_forms(meta, key)
            hit = shown[shape] = tuple(form for form in calc_forms if form in forms)
        for form in hit:
            rows_of_form[form].append(key)

    # (calc, the rows it is evaluated on, the fields its context table holds)
    jobs: list[tuple[Any, list[RowKey], tuple[set[str], set[tuple[str, str]]]]]
    local = _row_local(meta, calcs)
    if local:
        # each calc reads its own row (and its base row) only: it is evaluated on the rows
        # of its own form, with a context table of the fields its form's calcs read
        refs = {form: _references(meta, [f for f in calcs if f.form == form])
                for form in calc_forms}
        jobs = [(f, rows_of_form[f.form], refs[f.form]) for f in calcs]
    else:
        # a calc may read other rows: one table of every row of the records, every calc's
        # fields; each calc then keeps the results of its own form's rows
        everything = _references(meta, calcs)
        jobs = [(f, keys, everything) for f in calcs]
    changed: dict[RowKey, dict[str, Any]] = {}
    tables: dict[int, Any] = {}  # by rows list: one table per form (local) or in all
    for f, table_keys, (plain, boxes) in jobs:
        if not table_keys:
            continue
        table = tables.get(id(table_keys))
        if table is None:
            table = tables[id(table_keys)] = _calc_table(meta, rows, table_keys, plain, boxes)
        try:
            result = list(evaluate(parse(f.calc), table))
        except Exception as exc:  # noqa: BLE001 - a broken calc leaves the field blank
            log.debug("calc %s failed: %s", f.name, exc)
            continue
        if len(result) != len(table_keys):
            raise ValueError("calc result and rows differ in length")
        own = None if local else set(rows_of_form[f.form])
        texts: dict[Any, str] = {}  # result → stored text (results repeat a lot)
        for key, value in zip(table_keys, result, strict=True):
            if own is not None and key not in own:
                continue
            try:
                text = texts.get(value)
            except TypeError:  # an unhashable result
                text = None
            if text is None:
                text = _stored_text(value)
                try:
                    texts[value] = text
                except TypeError:
                    pass
            row = changed.get(key, rows[key])
            if text == row.get(f.name, ""):
                continue
            row = changed.get(key)
            if row is None:
                row = changed[key] = rows[key] if in_place else dict(rows[key])
            if text:
                row[f.name] = text
            else:
                row.pop(f.name, None)
    return changed


def _stored_text(value: Any) -> str:
    """A calc result as REDCap stores it (numbers without a trailing .0, NaN blank)."""
    try:
        text = format_number(float(value))
    except (TypeError, ValueError):
        text = "" if value is None else str(value)
    return "" if text == "nan" else text


def _calc_table(meta: ProjectMeta, rows: dict[RowKey, dict[str, Any]], keys: list[RowKey],
                   plain: set[str], boxes: set[tuple[str, str]]) -> pd.DataFrame:
    """The rows ``keys`` as a logic context table of the fields ``plain`` and the checkbox
    columns ``boxes``, laid out as REDCap's flat export lays them out (a field of another
    form is blank on a repeating row, its checkbox columns too); a repeating row then sees
    its record's non-repeating values through ``logic.context.fill_from_base``."""
    box_columns = [(checkbox_column(name, code), name, code, meta.fields[name].form)
                   for name, code in boxes]
    record_id = meta.record_id

    def row_of(key: RowKey, stored: dict[str, Any]) -> dict[str, str]:
        row = {n: stored.get(n, "") for n in plain}
        for column, name, code, form in box_columns:
            on_row = not key[2] or form == key[2]  # REDCap's export: blank off the form
            row[column] = ("1" if code in stored.get(name, ()) else "0") if on_row else ""
        row[record_id] = key[0]
        row["redcap_event_name"] = key[1]
        row["redcap_repeat_instrument"] = key[2]
        row["redcap_repeat_instance"] = str(key[3]) if key[3] else ""
        return row

    table = pd.DataFrame([row_of(key, rows[key]) for key in keys], dtype=object)
    repeating = [i for i, key in enumerate(keys) if key[2] or key[3]]
    if repeating:
        bases = {(key[0], key[1]) for key in keys if key[2] or key[3]}
        base_keys = [(r, e, "", 0) for r, e in sorted(bases) if (r, e, "", 0) in rows]
        base = pd.DataFrame([row_of(key, rows[key]) for key in base_keys],
                            columns=table.columns, dtype=object)
        columns = [*plain, *(c for c, *_ in box_columns)]
        keyed = [record_id, "redcap_event_name"]
        part = table.iloc[repeating]
        table.iloc[repeating] = fill_from_base(part, base, keyed, columns)[table.columns].to_numpy()
    return table.fillna("")
