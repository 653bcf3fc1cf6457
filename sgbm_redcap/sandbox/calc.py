"""Calculated fields: REDCap re-runs every calc of a record after each save.

Uses ``sgbm_redcap.logic`` (CONTRACTS §2) on a context table of the touched records holding
only the fields the calcs read; when the logic package is not importable the stored calc
values are left alone.
"""

from __future__ import annotations

import logging
import math
import re
from itertools import chain
from typing import Any

from .meta import ProjectMeta, checkbox_column

log = logging.getLogger(__name__)
_REF = re.compile(r"\[([a-z][a-z0-9_]*)(?:\(([^)]*)\))?\]")

RowKey = tuple[str, str, str, int]


def format_number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10g}"


def _references(meta: ProjectMeta, calcs: list[Any]) -> tuple[set[str], set[tuple[str, str]]]:
    plain: set[str] = set()
    boxes: set[tuple[str, str]] = set()
    for f in calcs:
        for name, code in _REF.findall(f.calc):
            target = meta.fields.get(name)
            if target is not None and target.ftype == "checkbox":
                boxes.update((name, c) for c in ([code] if code else target.choices))
            elif name in meta.fields or name.endswith("_complete"):
                plain.add(name)
    return plain, boxes


_BRACKET = re.compile(r"\[([^\]]*)\]")


def _row_local(meta: ProjectMeta, calcs: list[Any]) -> bool:
    """True when every calc reads plain fields of its own row only: no ``[event][field]``,
    ``[field][instance]`` or smart variable that could look at another row."""
    cache = meta.cache
    got = cache.get("calcs_row_local")
    if got is None:
        got = True
        for f in calcs:
            text = re.sub(r"\s+", "", f.calc)
            if "][" in text:
                got = False
                break
            for token in _BRACKET.findall(text):
                name = token.split("(", 1)[0]
                if name not in meta.fields and not (
                        name.endswith("_complete") and name[:-9] in meta.form_fields):
                    got = False
                    break
            if not got:
                break
        cache["calcs_row_local"] = got
    return got


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
    try:
        from sgbm_redcap.logic import evaluate, parse
    except ImportError:
        return {}
    import pandas as pd

    from .endpoints.records import applicable_forms

    plain, boxes = _references(meta, calcs)
    shown: dict[tuple[str, str, bool], frozenset[str]] = {}  # forms by row shape

    def forms_of_row(key: RowKey) -> frozenset[str]:
        shape = (key[1], key[2], bool(key[3]))
        got = shown.get(shape)
        if got is None:
            got = shown[shape] = applicable_forms(meta, key)
        return got

    if _row_local(meta, calcs):
        # each row's results depend on that row (and its base row) only: rows of forms
        # without a calc need no evaluation, except base rows, which feed repeating rows
        calc_forms = {f.form for f in calcs}
        keys = [k for k in keys if (not k[2] and not k[3])
                or not calc_forms.isdisjoint(forms_of_row(k))]
    # a base row's non-blank, non-zero values: what its repeating rows inherit (computed once
    # per base row, not once per repeating row)
    base: dict[tuple[str, str], list[tuple[str, str]]] = {}
    table_rows = []
    box_columns = [(checkbox_column(name, code), name, code) for name, code in boxes]
    for key in keys:
        stored = rows[key]
        row = {n: stored.get(n, "") for n in plain}
        for column, name, code in box_columns:
            row[column] = "1" if code in stored.get(name, ()) else "0"
        if not key[2] and not key[3]:
            base[(key[0], key[1])] = [(k, v) for k, v in row.items() if v not in ("", "0")]
        table_rows.append(row)
    for key, row in zip(keys, table_rows, strict=True):
        if key[2] or key[3]:  # repeating rows see the record's non-repeating values
            for k, v in base.get((key[0], key[1]), ()):
                if row.get(k, "") in ("", "0"):
                    row[k] = v
        row[meta.record_id] = key[0]
        row["redcap_event_name"] = key[1]
        row["redcap_repeat_instrument"] = key[2]
        row["redcap_repeat_instance"] = str(key[3]) if key[3] else ""
    table = pd.DataFrame(table_rows, dtype=object).fillna("")
    changed: dict[RowKey, dict[str, Any]] = {}
    # row positions by the forms they show: a calc visits only the rows of its form
    positions_of: dict[frozenset[str], list[int]] = {}
    for i, key in enumerate(keys):
        positions_of.setdefault(forms_of_row(key), []).append(i)
    for f in calcs:
        groups = [p for forms, p in positions_of.items() if f.form in forms]
        if not groups:
            continue
        positions = groups[0] if len(groups) == 1 else sorted(chain.from_iterable(groups))
        try:
            result = list(evaluate(parse(f.calc), table))
        except Exception as exc:  # noqa: BLE001 - a broken calc leaves the field blank
            log.debug("calc %s failed: %s", f.name, exc)
            continue
        texts: dict[Any, str] = {}  # result → stored text (results repeat a lot)
        if len(result) != len(keys):
            raise ValueError("calc result and rows differ in length")
        for i in positions:
            key, value = keys[i], result[i]
            try:
                text = texts.get(value)
            except TypeError:  # an unhashable result
                text = None
            if text is None:
                try:
                    text = format_number(float(value))
                except (TypeError, ValueError):
                    text = "" if value is None else str(value)
                if text == "nan":
                    text = ""
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
