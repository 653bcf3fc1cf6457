"""Calculated fields: REDCap re-runs every calc of a record after each save.

Uses ``sgbm_redcap.logic`` (CONTRACTS §2) on a context table of the touched records; when the
logic package is not importable the stored calc values are simply left alone.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger(__name__)


def format_number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10g}"


def recalculate(ctx: Any, conn: Any, records: list[str]) -> None:
    """Recompute calc fields of ``records`` inside the caller's write transaction."""
    meta = ctx.meta
    calcs = [f for f in meta.fields.values() if f.ftype == "calc" and f.calc.strip()]
    if not calcs or not records:
        return
    try:
        from sgbm_redcap.logic import evaluate, parse
    except ImportError:
        return
    import pandas as pd

    from .endpoints.records import (
        RowBuilder,
        applicable_forms,
        load_values,
        ordered_keys,
        select_columns,
    )

    values = load_values(ctx, records)
    keys = ordered_keys(meta, values, records)
    cols = select_columns(meta, [], [])
    builder = RowBuilder(ctx, cols)
    builder.label = False
    builder.comma = False
    names = [c.name for c in cols]
    base: dict[tuple[str, str], dict[str, str]] = {}
    rows = []
    for key in keys:
        row = dict(zip(names, builder.values(key, values.get(key, {})), strict=True))
        if not key[2] and not key[3]:
            base[(key[0], key[1])] = row
        rows.append(row)
    for key, row in zip(keys, rows, strict=True):
        if key[2] or key[3]:
            for k, v in base.get((key[0], key[1]), {}).items():
                if row.get(k, "") == "" and v != "":
                    row[k] = v
        row["redcap_event_name"] = key[1]
        row["redcap_repeat_instrument"] = key[2]
        row["redcap_repeat_instance"] = str(key[3]) if key[3] else ""
    table = pd.DataFrame(rows, dtype=object).fillna("")
    deletes, inserts = [], []
    for f in calcs:
        try:
            result = evaluate(parse(f.calc), table)
        except Exception as exc:  # noqa: BLE001 - a broken calc leaves the field blank
            log.debug("calc %s failed: %s", f.name, exc)
            continue
        for key, value in zip(keys, list(result), strict=True):
            if f.form not in applicable_forms(meta, key):
                continue
            try:
                text = format_number(float(value))
            except (TypeError, ValueError):
                text = "" if value is None else str(value)
            if text == "nan":
                text = ""
            old = values.get(key, {}).get(f.name, "")
            if text == old:
                continue
            deletes.append((ctx.pid, *key, f.name))
            if text:
                inserts.append((ctx.pid, *key, f.name, text))
    conn.executemany("DELETE FROM data WHERE pid=? AND record=? AND event=? AND instrument=? "
                     "AND instance=? AND field=?", deletes)
    conn.executemany("INSERT INTO data (pid, record, event, instrument, instance, field, value) "
                     "VALUES (?,?,?,?,?,?,?)", inserts)
