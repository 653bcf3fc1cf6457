"""``content=record`` export: stored rows read, ordered and assembled into flat or EAV rows,
filtered by ``filterLogic`` and encoded (REDCAP_API.md §4.3).

Values are read from the stored rows and assembled into flat rows in Python; a raw flat CSV
export takes the :mod:`..flatcsv` path, which writes each line without a per-cell list (the
same bytes as :func:`..protocol.csv_line`).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sgbm_redcap.dictionary.model import record_sort_key
from sgbm_redcap.logic import evaluate, parse

from ..flatcsv import FlatCsvLines, form_segment
from ..handler import Context, Response, endpoint
from ..meta import COMPLETE_LABELS, ProjectMeta
from ..protocol import MIME, ApiError, csv_cell, csv_line, encode_rows
from ..rows import RowKey, applicable_forms

log = logging.getLogger(__name__)

_DELIMS = {",": ",", "tab": "\t", ";": ";", "|": "|", "^": "^"}


# ---------------------------------------------------------------- reading stored data


def record_dags(ctx: Context) -> dict[str, tuple[str, str, str]]:
    """record → (dag, created, modified), limited to the user's DAG when they are in one."""
    rows = ctx.store.conn.execute(
        "SELECT record, dag, created, modified FROM records WHERE pid=?", (ctx.pid,)).fetchall()
    dag = ctx.user_dag
    return {r: (d, c, m) for r, d, c, m in rows if not dag or d == dag}


def document_names(ctx: Context) -> dict[str, str]:
    """Stored document id (what a file field holds) → the uploaded file's name."""
    return {str(doc): name for doc, name in ctx.store.conn.execute(
        "SELECT doc_id, name FROM docs WHERE pid=? AND deleted=0", (ctx.pid,))}


def load_values(ctx: Context, records: list[str] | None) -> dict[RowKey, dict[str, Any]]:
    """Stored rows by key; checkbox fields hold the list of checked codes."""
    return ctx.store.read_rows(ctx.pid, records)


def ordered_keys(meta: ProjectMeta, values: dict[RowKey, dict[str, Any]],
                 records: list[str]) -> list[RowKey]:
    """Row keys in REDCap's order: record, arm/event, base row, repeating form, instance."""
    by_record: dict[str, set[RowKey]] = defaultdict(set)
    for key in values:
        by_record[key[0]].add(key)
    event_pos = {e["unique_event_name"]: (e["arm_num"], e.get("day_offset", 0), i)
                 for i, e in enumerate(meta.events)}
    form_pos = {f: i for i, f in enumerate(meta.forms)}
    keys: list[RowKey] = []
    for rec in records:
        ks = by_record.get(rec, set())
        events = {k[1] for k in ks} or ({""} if not meta.longitudinal else set())
        for ev in events:
            if not meta.repeating_event(ev):
                ks.add((rec, ev, "", 0))
        keys.extend(sorted(ks, key=lambda k: (event_pos.get(k[1], (0, 0, 0)),
                                              form_pos.get(k[2], -1), k[3])))
    return keys


# ---------------------------------------------------------------- export


@dataclass
class Column:
    name: str
    kind: str  # id, field, checkbox, complete
    field: str
    code: str
    form: str


def select_columns(meta: ProjectMeta, fields: list[str], forms: list[str]) -> list[Column]:
    """The requested columns in metadata order (§2.3/§4.3 rules and errors)."""
    wanted: set[str] = set()
    invalid = []
    bad_forms = [f for f in forms if f not in meta.form_fields]
    if bad_forms:
        raise ApiError('The following values in the parameter "forms" are not valid: '
                       + ", ".join(f"'{x}'" for x in bad_forms))
    if not fields and not forms:
        wanted = set(meta.column_order)
    for name in fields:
        f = meta.fields.get(name)
        if f is not None:
            if f.ftype == "descriptive":
                continue
            if f.ftype == "checkbox":
                wanted.update(c for c, spec in meta.columns.items()
                              if spec[0] == "checkbox" and spec[1] == name)
            else:
                wanted.add(name)
        elif name in meta.columns:
            wanted.add(name)
        else:
            invalid.append(name)
    if invalid:
        raise ApiError('The following values in the parameter "fields" are not valid: '
                       + ", ".join(f"'{x}'" for x in invalid))
    for form in forms:
        wanted.update(c for c, spec in meta.columns.items()
                      if (spec[0] == "complete" and spec[1] == form)
                      or (spec[0] != "complete" and meta.fields[spec[1]].form == form))
    if fields and not forms and not wanted:
        raise ApiError('The variables provided in the parameter "fields" are not valid fields '
                       "that contain data. Descriptive fields cannot be exported.")
    pk = meta.record_id
    cols = [Column(pk, "id", pk, "", meta.fields[pk].form if pk in meta.fields else "")]
    for name in meta.column_order:
        if name == pk or name not in wanted:
            continue
        kind, target, code = meta.columns[name]
        form = target if kind == "complete" else meta.fields[target].form
        cols.append(Column(name, kind, target, code, form))
    return cols


class RowBuilder:
    """Turns stored values into flat export rows for one request's options.

    Columns are grouped by form so that a row only visits the forms it shows; this is the
    export's hot loop (one call per exported row).
    """

    def __init__(self, ctx: Context, cols: list[Column], prefix: int = 0):
        req = ctx.req
        self.width = len(cols) + prefix
        self._af: dict[tuple[str, str, bool], frozenset[str]] = {}
        self.meta = meta = ctx.meta
        self.cols = cols
        self.label = req.get("rawOrLabel") == "label"
        self.cb_label = req.flag("exportCheckboxLabel")
        self.blank_gray = req.flag("exportBlankForGrayFormStatus")
        self.comma = req.get("decimalCharacter") == ","
        self.dag_labels = meta.dag_names
        self.files = {n for n, f in meta.fields.items() if f.ftype == "file"}
        # a file field stores its document's id and exports the file's name, as REDCap does
        self.doc_names = document_names(ctx) if self.files else {}
        self.by_form: dict[str, list[tuple[int, Column]]] = {}
        for i, c in enumerate(cols):
            if c.kind != "id":  # output positions leave room for the prefix columns
                self.by_form.setdefault(c.form, []).append((i + prefix, c))
        self.form_data_fields = {
            form: [n for n in meta.form_fields[form] if n != meta.record_id]
            for form in meta.forms}
        # raw exports: per form one contiguous slice of the output row, filled by a list
        # comprehension; checkbox and form-status columns are patched in afterwards
        self.fast = not (self.label or self.comma or self.blank_gray)
        self.slices: dict[str, tuple[int, int, list[str], list[tuple[int, str, str]], int,
                                     str, list[int]]] = {}
        for form, group in self.by_form.items():
            start = group[0][0]
            if [i for i, _ in group] != list(range(start, start + len(group))):
                self.fast = False
                break
            names, boxes, complete, complete_name, files = [], [], -1, "", []
            for off, (_, c) in enumerate(group):
                if c.kind == "field":
                    names.append(c.field)
                    if c.field in self.files:
                        files.append(off)
                elif c.kind == "checkbox":
                    names.append("\x00")
                    boxes.append((off, c.field, c.code))
                else:
                    names.append(c.name)
                    complete, complete_name = off, c.name
            self.slices[form] = (start, start + len(group), names, boxes, complete,
                                 complete_name, files)

    def values(self, key: RowKey, stored: dict[str, Any]) -> list[str]:
        if self.fast:
            return self._fast_values(key, stored)
        return self._values(key, stored)

    def forms_for(self, key: RowKey) -> frozenset[str]:
        k = (key[1], key[2], bool(key[3]))
        got = self._af.get(k)
        if got is None:
            got = self._af[k] = applicable_forms(self.meta, key)
        return got

    def _fast_values(self, key: RowKey, stored: dict[str, Any]) -> list[str]:
        out = [""] * self.width
        out[0] = key[0]
        get = stored.get
        for form in self.forms_for(key):
            spec = self.slices.get(form)
            if spec is None:
                continue
            start, end, names, boxes, complete, _complete_name, files = spec
            out[start:end] = form_segment(get, names, boxes, complete, files, self.doc_names)
        return out

    def _values(self, key: RowKey, stored: dict[str, Any]) -> list[str]:
        meta = self.meta
        out = [""] * self.width
        out[0] = key[0]
        plain = not (self.label or self.comma)
        for form in self.forms_for(key):
            group = self.by_form.get(form)
            if not group:
                continue
            for i, c in group:
                kind = c.kind
                if kind == "field":
                    v = stored.get(c.field, "")
                    if not v:
                        continue
                    if c.field in self.files:
                        v = self.doc_names.get(v, v)
                    elif not plain:
                        v = self._relabel(c, v)
                    out[i] = v
                elif kind == "checkbox":
                    checked = c.code in stored.get(c.field, ())
                    if self.label:
                        if self.cb_label:
                            out[i] = meta.fields[c.field].choices.get(c.code, "") if checked else ""
                        else:
                            out[i] = "Checked" if checked else "Unchecked"
                    else:
                        out[i] = "1" if checked else "0"
                else:  # complete
                    v = stored.get(c.name, "")
                    if v == "":
                        if self.blank_gray and not any(
                                n in stored for n in self.form_data_fields[form]):
                            v = ""
                        else:
                            v = "0"
                    out[i] = COMPLETE_LABELS.get(v, v) if self.label else v
        return out

    def _relabel(self, c: Column, v: str) -> str:
        f = self.meta.fields[c.field]
        if self.label and f.choices:
            return f.choices.get(v, v)
        if self.comma and f.validation.startswith("number"):
            return v.replace(".", ",")
        return v


def _prefix_columns(ctx: Context, dag_export: bool) -> list[str]:
    meta = ctx.meta
    cols = []
    if meta.longitudinal:
        cols.append("redcap_event_name")
    if meta.has_repeating:
        cols += ["redcap_repeat_instrument", "redcap_repeat_instance"]
    if dag_export:
        cols.append("redcap_data_access_group")
    return cols


@endpoint("record", "export")
def export_records(ctx: Context) -> Response:
    ctx.require("api_export")
    req, meta = ctx.req, ctx.meta
    cols = select_columns(meta, req.listing("fields"), req.listing("forms"))
    events = req.listing("events")
    if meta.longitudinal and events:
        bad = [e for e in events if meta.event(e) is None]
        if bad:
            raise ApiError('The following values in the parameter "events" are not valid: '
                           + ", ".join(f"'{x}'" for x in bad))
    dags = record_dags(ctx)
    begin, end = req.get("dateRangeBegin"), req.get("dateRangeEnd")
    wanted = req.listing("records")
    records = [r for r in (wanted or dags) if r in dags]
    if begin or end:
        records = [r for r in records if (not begin or dags[r][2] >= begin)
                   and (not end or dags[r][2] <= end)]
    records.sort(key=record_sort_key)
    values = load_values(ctx, records if (wanted or begin or end) else None)
    keys = ordered_keys(meta, values, records)
    if meta.longitudinal and events:
        keep_ev = set(events)
        keys = [k for k in keys if k[1] in keep_ev]
    logic = req.get("filterLogic").strip()
    if logic:
        keys = _filter_keys(ctx, logic, keys, values)
    # a repeating instrument's rows only appear when one of its columns was asked for
    col_forms = {c.form for c in cols[1:]}
    keys = [k for k in keys if not k[2] or k[2] in col_forms]
    dag_export = (req.flag("exportDataAccessGroups") and not ctx.user_dag
                  and bool(meta.config.get("dags")))
    _log_export(ctx, len({k[0] for k in keys}))
    if req.get("type") == "eav":
        return _eav(ctx, cols, keys, values, dags, dag_export)
    prefix = _prefix_columns(ctx, dag_export)
    builder = RowBuilder(ctx, cols, len(prefix))
    names = [cols[0].name] + prefix + [c.name for c in cols[1:]]
    if ctx.req.format == "csv" and builder.fast and builder.width > 1:
        return _fast_csv(ctx, builder, names, keys, values, cols, prefix, dags, dag_export)
    rows = []
    label = builder.label
    longitudinal, repeating = meta.longitudinal, meta.has_repeating
    empty: dict[str, Any] = {}
    for key in keys:
        row = builder.values(key, values.get(key, empty))
        i = 1
        if longitudinal:
            row[i] = meta.event_label(key[1]) if label else key[1]
            i += 1
        if repeating:
            row[i] = meta.form_label(key[2]) if (label and key[2]) else key[2]
            row[i + 1] = key[3] or ""
            i += 2
        if dag_export:
            d = dags.get(key[0], ("", "", ""))[0]
            row[i] = builder.dag_labels.get(d, d) if label else d
        rows.append(row)
    return _encode_flat(ctx, names, rows, cols, prefix)


def _fast_csv(ctx: Context, builder: RowBuilder, names: list[str], keys: list[RowKey],
              values: dict[RowKey, dict[str, Any]], cols: list[Column], prefix: list[str],
              dags: dict[str, tuple[str, str, str]], dag_export: bool) -> Response:
    """Raw flat CSV without a per-cell list: see :mod:`..flatcsv` (same bytes as csv_line)."""
    meta = ctx.meta
    delim = _DELIMS.get(ctx.req.get("csvDelimiter", ","), ",")
    header = names
    if ctx.req.get("rawOrLabelHeaders") == "label":
        header = _label_headers(meta, cols, prefix)
    lines = FlatCsvLines(builder.slices, builder.width, len(prefix), builder.forms_for, delim,
                         builder.doc_names)
    line = lines.line
    longitudinal, repeating = meta.longitudinal, meta.has_repeating
    empty: dict[str, Any] = {}
    out = [delim.join([csv_cell(h, delim) for h in header]) + "\n"]
    append = out.append
    if not (longitudinal or repeating or dag_export):
        for key in keys:
            append(line(key, values.get(key, empty), ()))
    else:
        for key in keys:
            cells = []
            if longitudinal:
                cells.append(key[1])
            if repeating:
                cells.append(key[2])
                cells.append(str(key[3]) if key[3] else "")
            if dag_export:
                cells.append(dags.get(key[0], ("", "", ""))[0])
            append(line(key, values.get(key, empty), cells))
    return Response(200, "".join(out).encode(), MIME["csv"])


def _encode_flat(ctx: Context, names: list[str], rows: list[list[Any]], cols: list[Column],
                 prefix: list[str]) -> Response:
    fmt = ctx.req.format
    if fmt == "json":
        dicts = [dict(zip(names, r, strict=True)) for r in rows]
        return Response(200, json.dumps(dicts, ensure_ascii=False).encode(), MIME["json"])
    if fmt == "csv":
        delim = _DELIMS.get(ctx.req.get("csvDelimiter", ","), ",")
        header = names
        if ctx.req.get("rawOrLabelHeaders") == "label":
            header = _label_headers(ctx.meta, cols, prefix)
        text = csv_line(header, delim) + "".join([csv_line(r, delim) for r in rows])
        return Response(200, text.encode(), MIME["csv"])
    dicts = [dict(zip(names, [str(v) for v in r], strict=True)) for r in rows]
    body, ctype = encode_rows(dicts, "xml")
    return Response(200, body, ctype)


def _label_headers(meta: ProjectMeta, cols: list[Column], prefix: list[str]) -> list[str]:
    pre_labels = {"redcap_event_name": "Event Name", "redcap_repeat_instrument": "Repeat Instrument",
                  "redcap_repeat_instance": "Repeat Instance",
                  "redcap_data_access_group": "Data Access Group"}
    out = [meta.fields[cols[0].field].label if cols[0].field in meta.fields else cols[0].name]
    out += [pre_labels[p] for p in prefix]
    for c in cols[1:]:
        if c.kind == "complete":
            out.append("Complete?")
        elif c.kind == "checkbox":
            f = meta.fields[c.field]
            out.append(f"{f.label} (choice={f.choices.get(c.code, c.code)})")
        else:
            out.append(meta.fields[c.field].label)
    return out


def _eav(ctx: Context, cols: list[Column], keys: list[RowKey],
         values: dict[RowKey, dict[str, Any]], dags: dict[str, tuple[str, str, str]],
         dag_export: bool) -> Response:
    meta = ctx.meta
    label = ctx.req.get("rawOrLabel") == "label"
    repeating = meta.has_repeating
    fields_wanted = []
    seen = set()
    for c in cols:
        target = c.name if c.kind == "complete" else c.field
        if target not in seen:
            seen.add(target)
            fields_wanted.append((target, c.kind))
    files = {n for n, f in meta.fields.items() if f.ftype == "file"}
    doc_names = document_names(ctx) if files else {}
    out = []
    for key in keys:
        stored = values.get(key, {})
        forms = applicable_forms(meta, key)
        for target, kind in fields_wanted:
            if target not in stored:
                continue
            form = meta.fields[target].form if kind != "complete" else target[:-9]
            if kind != "id" and form not in forms:
                continue
            vals = sorted(stored[target]) if kind == "checkbox" else [stored[target]]
            if target in files:
                vals = [doc_names.get(v, v) for v in vals]
            for v in vals:
                if label and kind in ("field", "checkbox"):
                    v = meta.fields[target].choices.get(v, v)
                row: dict[str, Any] = {"record": key[0]}
                if meta.longitudinal:
                    row["redcap_event_name"] = key[1]
                if repeating:
                    row["redcap_repeat_instrument"] = key[2]
                    row["redcap_repeat_instance"] = key[3] or ""
                row["field_name"] = target
                row["value"] = v
                out.append(row)
        if dag_export and key[2] == "" and key[3] == 0 and dags.get(key[0], ("",))[0]:
            out.append({"record": key[0], "field_name": "redcap_data_access_group",
                        "value": dags[key[0]][0]})
    columns = ["record"] + (["redcap_event_name"] if meta.longitudinal else []) + (
        ["redcap_repeat_instrument", "redcap_repeat_instance"] if repeating else []) + [
        "field_name", "value"]
    body, ctype = encode_rows(out, ctx.req.format, columns)
    return Response(200, body, ctype)


def _filter_keys(ctx: Context, logic: str, keys: list[RowKey],
                 values: dict[RowKey, dict[str, Any]]) -> list[RowKey]:
    """Keep rows of records (longitudinal: record-events) where ``logic`` is true on a row.

    Each row is evaluated with the record-event's non-repeating values filled in, as a
    context table (CONTRACTS §2); a row whose evaluation fails counts as false, as REDCap
    skips records whose logic throws.
    """
    import pandas as pd

    meta = ctx.meta
    cols = select_columns(meta, [], [])
    builder = RowBuilder(ctx, cols)
    builder.label = False
    names = [c.name for c in cols]
    base: dict[tuple[str, str], dict[str, str]] = {}
    table_rows = []
    for key in keys:
        row = dict(zip(names, builder.values(key, values.get(key, {})), strict=True))
        if key[2] == "" and key[3] == 0:
            base[(key[0], key[1])] = row
        table_rows.append(row)
    for key, row in zip(keys, table_rows, strict=True):
        if key[2] or key[3]:
            b = base.get((key[0], key[1]), {})
            for k, v in b.items():
                if row.get(k, "") == "" and v != "":
                    row[k] = v
        row["redcap_event_name"] = key[1]
        row["redcap_repeat_instrument"] = key[2]
        row["redcap_repeat_instance"] = str(key[3]) if key[3] else ""
    table = pd.DataFrame(table_rows, dtype=object).fillna("")
    try:
        result = evaluate(parse(logic), table)
    except Exception as exc:  # noqa: BLE001 - REDCap answers with nothing rather than an error
        log.info("filterLogic %r failed: %s", logic, exc)
        return []
    result = result.fillna(False).astype(bool).tolist()
    grain = (lambda k: (k[0], k[1])) if meta.longitudinal else (lambda k: k[0])
    kept = {grain(k) for k, ok in zip(keys, result, strict=True) if ok}
    return [k for k in keys if grain(k) in kept]


def _log_export(ctx: Context, n_records: int) -> None:
    with ctx.store.write() as conn:
        ctx.log(conn, "export", "Data export (API)", f"{n_records} records")
