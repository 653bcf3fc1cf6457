"""``content=record`` import writing: a checked plan (:mod:`.records_plan`) stored in one
transaction, calcs re-run, records and the log updated with ``executemany``.

Two ways of applying a row's planned values, with the same result (the tests compare them):
a normal import (no blanks) takes them by C-level dict update and a new row takes the plan's
own dict; an overwrite import (blanks clear values) goes value by value.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import islice
from typing import Any

from ..calc import recalculate
from ..handler import Context
from ..meta import ProjectMeta
from ..rows import RowKey
from ..store import select_for_records
from .records_plan import PlannedRow

# stored rows take an import's values by dict update; the per-value loop stays the reference
# (the tests compare both)
_BULK_WRITE = True
#: the log keeps a record's first 50 notes
_NOTES = 50

Rows = dict[RowKey, dict[str, Any]]


def write_plan(ctx: Context, plan: list[PlannedRow], dag_of: dict[str, str],
               overwrite: bool, *, recalc: bool = True) -> None:
    """Store the planned rows, re-run the touched records' calcs (unless ``recalc`` is
    false), update the records table and log one line per record."""
    pid = ctx.pid
    ts = ctx.sb.now()
    with ctx.store.write() as conn:
        names = list(dict.fromkeys(p.key[0] for p in plan))
        existing = set(stored_dags(conn, pid, names))
        touched_old = [r for r in names if r in existing]
        rows = ctx.store.read_rows(pid, touched_old, conn=conn) if touched_old else {}
        details: dict[str, list[str]] = defaultdict(list)
        if not overwrite and _BULK_WRITE:
            changed = _apply_bulk(ctx.meta, plan, rows, details)
        else:
            changed = _apply_exact(ctx.meta, plan, rows, details)
        rows.update(changed)
        # the rows are this request's own copies: calcs may update them in place
        if recalc:
            recalculate(ctx.meta, rows, names, in_place=True)
        # ``rows`` now holds every row of the touched records, as they are to be stored
        ctx.store.write_rows(conn, pid, rows, whole_records=True)
        conn.executemany(
            "INSERT INTO records (pid, record, dag, created, modified) VALUES (?,?,?,?,?) "
            "ON CONFLICT (pid, record) DO UPDATE SET modified=excluded.modified",
            [(pid, r, dag_of.get(r, ""), ts, ts) for r in names])
        conn.executemany("UPDATE records SET dag=? WHERE pid=? AND record=?",
                         [(d, pid, r) for r, d in dag_of.items() if r in existing])
        conn.executemany(
            "INSERT INTO log (pid, ts, username, logtype, action, details, record, dag) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(pid, ts, ctx.username, "record_add" if r not in existing else "record_edit",
              f"{'Create' if r not in existing else 'Update'} record (API) {r}",
              ", ".join(details[r]), r, dag_of.get(r, "")) for r in names])


def _apply_bulk(meta: ProjectMeta, plan: list[PlannedRow], rows: Rows,
                details: dict[str, list[str]]) -> Rows:
    """A normal import's rows (no blanks) as they are to be stored: a new row is the plan's
    own dict, a stored one takes the values by dict update; checkbox columns then become
    the field's list of codes."""
    pk = meta.record_id
    boxes = _checkbox_columns(meta)
    box_order = _checkbox_order(meta)
    changed: Rows = {}
    for p in plan:
        rec, values = p.key[0], p.values
        notes = details[rec]
        _note_instance(notes, p.key)
        if len(notes) < _NOTES:
            notes.extend(
                f"{col} = '{('checked' if v == '1' else 'unchecked') if col in boxes else v}'"
                for col, v in islice(values.items(), _NOTES - len(notes)))
        row = changed.get(p.key)
        if row is None:
            stored = rows.get(p.key)
            if stored is None:
                changed[p.key] = _new_row(meta, values, boxes, box_order)
                values[pk] = rec
                continue
            row = changed[p.key] = dict(stored)
        row[pk] = rec
        row.update(values)
        if boxes.isdisjoint(values):
            continue
        for col in [c for c in values if c in boxes]:
            del row[col]
            _, target, code = meta.columns[col]
            _set_checkbox(row, target, code, values[col] == "1")
    return changed


def _new_row(meta: ProjectMeta, values: dict[str, Any], boxes: frozenset[str],
             box_order: dict[str, int]) -> dict[str, Any]:
    """A new row from its planned values, the plan's dict itself: an unchecked box has
    nothing to clear, a checked one joins the field's list of codes in choice order."""
    hit = boxes.intersection(values)
    for col in sorted(hit, key=box_order.__getitem__) if hit else ():
        if values.pop(col) == "1":
            _, target, code = meta.columns[col]
            codes = values.get(target)
            if codes is None:
                values[target] = [code]
            elif code not in codes:
                codes.append(code)
    return values


def _apply_exact(meta: ProjectMeta, plan: list[PlannedRow], rows: Rows,
                 details: dict[str, list[str]]) -> Rows:
    """The rows as they are to be stored, value by value (an overwrite import's blank
    clears the value)."""
    pk = meta.record_id
    columns = meta.columns
    changed: Rows = {}
    for p in plan:
        rec = p.key[0]
        notes = details[rec]
        _note_instance(notes, p.key)
        row = changed.get(p.key)
        if row is None:
            row = changed[p.key] = dict(rows.get(p.key) or ())
        row[pk] = rec
        for col, v in p.values.items():
            kind, target, code = columns[col]
            if kind == "checkbox":
                _set_checkbox(row, target, code, v == "1")
                note = "checked" if v == "1" else "unchecked"
            else:
                if v == "":
                    row.pop(col, None)
                else:
                    row[col] = v
                note = v
            if len(notes) < _NOTES:
                notes.append(f"{col} = '{note}'")
    return changed


def _note_instance(notes: list[str], key: tuple[str, ...]) -> None:
    """A repeating row's values are logged after ``[instance = N]``, as REDCap logs them (the
    monitoring audit tells the instances of one field apart by it)."""
    if key[-1] and len(notes) < _NOTES:
        notes.append(f"[instance = {key[-1]}]")


def _set_checkbox(row: dict[str, Any], field: str, code: str, checked: bool) -> None:
    """Check or uncheck one code of a stored checkbox field (its list of checked codes)."""
    codes = row.get(field, [])
    if checked:
        if code not in codes:
            row[field] = [*codes, code]
    elif code in codes:
        codes = [c for c in codes if c != code]
        if codes:
            row[field] = codes
        else:
            del row[field]


def stored_dags(conn: Any, pid: int, names: list[str]) -> dict[str, str]:
    """record → DAG of those of ``names`` that exist (the rest of the project is not read, so
    an import's cost does not grow with the project)."""
    return dict(select_for_records(conn, "SELECT record, dag FROM records WHERE pid=?", pid,
                                   names))


def _checkbox_order(meta: ProjectMeta) -> dict[str, int]:
    """Each checkbox column's position among the project's columns (choice order)."""
    got = meta.cache.get("checkbox_order")
    if got is None:
        got = meta.cache["checkbox_order"] = {
            c: i for i, (c, spec) in enumerate(meta.columns.items()) if spec[0] == "checkbox"}
    return got


def _checkbox_columns(meta: ProjectMeta) -> frozenset[str]:
    got = meta.cache.get("checkbox_columns")
    if got is None:
        got = meta.cache["checkbox_columns"] = frozenset(
            c for c, spec in meta.columns.items() if spec[0] == "checkbox")
    return got
