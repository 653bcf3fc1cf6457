"""``content=record`` export, import and delete, and ``generateNextRecordName``.

REDCAP_API.md §4.3–§4.5. Values are read from the EAV ``data`` table in one query and
assembled into flat rows in Python; imports validate everything first, then write in one
transaction with ``executemany``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from typing import Any

from sgbm_redcap.dictionary.model import checkbox_column, record_sort_key
from sgbm_redcap.logic import evaluate, parse

from ..calc import recalculate
from ..flatcsv import FlatCsvLines, escape_cell, form_segment
from ..handler import Context, Response, endpoint, now
from ..meta import COMPLETE_LABELS, ProjectMeta
from ..protocol import (
    MIME,
    ApiError,
    csv_text,
    encode_rows,
    encode_scalar,
    parse_data,
    to_text,
)
from ..rows import RowKey, applicable_forms
from ..store import select_for_records
from ..validation import canonical_date, convert_date, make_validator

log = logging.getLogger(__name__)

_UNSET: Any = object()
_second = itemgetter(1)
_DELIMS = {",": ",", "tab": "\t", ";": ";", "|": "|", "^": "^"}
# stored rows take an import's values by dict update; the per-value loop stays the reference
# (the tests compare both)
_BULK_WRITE = True
_SPECIAL = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
            "redcap_data_access_group", "redcap_survey_identifier")




# ---------------------------------------------------------------- reading stored data


def record_dags(ctx: Context) -> dict[str, tuple[str, str, str]]:
    """record → (dag, created, modified), limited to the user's DAG when they are in one."""
    rows = ctx.store.conn.execute(
        "SELECT record, dag, created, modified FROM records WHERE pid=?", (ctx.pid,)).fetchall()
    dag = ctx.user_dag
    return {r: (d, c, m) for r, d, c, m in rows if not dag or d == dag}


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
            out[start:end] = form_segment(get, names, boxes, complete, files)
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
                        v = "[document]"
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
    """Raw flat CSV without a per-cell list: see :mod:`..flatcsv` (same bytes as csv.writer)."""
    meta = ctx.meta
    delim = _DELIMS.get(ctx.req.get("csvDelimiter", ","), ",")
    header = names
    if ctx.req.get("rawOrLabelHeaders") == "label":
        header = _label_headers(meta, cols, prefix)
    lines = FlatCsvLines(builder.slices, builder.width, len(prefix), builder.forms_for, delim)
    line = lines.line
    longitudinal, repeating = meta.longitudinal, meta.has_repeating
    empty: dict[str, Any] = {}
    out = [delim.join([escape_cell(h, delim) for h in header]) + "\n"]
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
        text = csv_text([], names, delim, header)
        import csv as _csv
        import io

        buf = io.StringIO()
        buf.write(text)
        w = _csv.writer(buf, delimiter=delim, lineterminator="\n")
        w.writerows(rows)
        return Response(200, buf.getvalue().encode(), MIME["csv"])
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


# ---------------------------------------------------------------- import


def _eav_to_flat(meta: ProjectMeta, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    pk = meta.record_id
    merged: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for r in rows:
        rec = r.get("record", "")
        key = (rec, r.get("redcap_event_name", ""), r.get("redcap_repeat_instrument", ""),
               r.get("redcap_repeat_instance", ""))
        row = merged.setdefault(key, {pk: rec})
        if "redcap_event_name" in r:
            row["redcap_event_name"] = key[1]
        if "redcap_repeat_instrument" in r:
            row["redcap_repeat_instrument"] = key[2]
            row["redcap_repeat_instance"] = key[3]
        name, value = r.get("field_name", ""), r.get("value", "")
        f = meta.fields.get(name)
        if f is not None and f.ftype == "checkbox" and value in f.choices:
            row[checkbox_column(name, value)] = "1"
        elif name:
            row[name] = value
    return list(merged.values())


@dataclass
class PlannedRow:
    key: RowKey
    values: dict[str, str]  # column → value (checkbox columns included)


def _record_name_error(rec: str) -> str | None:
    if any(c in rec for c in "+&#'"):
        return (f"The record name ({rec}) cannot contain a plus sign (+), ampersand (&), "
                "pound sign (#), or apostrophe.")
    if len(rec) > 100:
        return f"The record name ({rec}) cannot be longer than 100 characters."
    if "\n" in rec or "\r" in rec:
        return f"The record name ({rec}) cannot contain line breaks."
    return None


def _csv_line(*parts: str) -> str:
    return ",".join('"' + p.replace('"', '""') + '"' for p in parts)


@endpoint("record", "import")
def import_records(ctx: Context) -> Response:
    ctx.require("api_import")
    # planning reads the stored state (the next "new" instance of a record, which records
    # exist and in which DAG): the whole import holds the store's write lock, so two
    # concurrent imports cannot plan on the same state and overwrite each other's instances
    with ctx.store.write_lock:
        return _import_records(ctx)


def _import_records(ctx: Context) -> Response:
    req, meta = ctx.req, ctx.meta
    fmt = req.format if req.format != "odm" else "xml"
    rows = parse_data(req.get("data"), fmt, raw=True)
    if req.get("type") == "eav":
        rows = _eav_to_flat(meta, [{k: to_text(v) for k, v in r.items()} for r in rows])
    overwrite = req.get("overwriteBehavior") == "overwrite"
    date_format = req.get("dateFormat", "YMD").upper()
    content = req.get("returnContent")
    content = content if content in ("ids", "auto_ids", "nothing", "count") else "count"
    force_auto = req.flag("forceAutoNumber")
    plan, dag_of = _plan_import(ctx, rows, overwrite, date_format)
    order = list(dict.fromkeys(p.key[0] for p in plan))
    renames: dict[str, str] = {}
    if force_auto:
        nxt = next_record_number(ctx)
        prefix = _dag_prefix(ctx)
        for old in order:
            renames[old] = f"{prefix}{nxt}"
            nxt += 1
        plan = [PlannedRow((renames[p.key[0]], *p.key[1:]), p.values) for p in plan]
        dag_of = {renames.get(k, k): v for k, v in dag_of.items()}
    names = [renames[o] for o in order] if force_auto else order  # the plan's records, in order
    if ctx.user_dag:
        stored = _stored_dags(ctx.store.conn, ctx.pid, names)
        foreign = [r for r in names if r in stored and stored[r] != ctx.user_dag]
        if foreign:
            raise ApiError("You do not have permission to modify the following records because "
                           "they belong to a Data Access Group you are not in: "
                           + ", ".join(foreign))
    _write(ctx, plan, dag_of, overwrite)
    rf = req.return_format
    if content == "nothing":
        return Response(200, b"", MIME.get(rf, MIME["json"]))
    if content == "ids":
        return _ids_body(names, rf)
    if content == "auto_ids" and force_auto:
        pairs = [f"{renames[o]},{o}" for o in order]
        if rf == "json":
            return Response(200, json.dumps(pairs).encode(), MIME["json"])
        if rf == "csv":
            return Response(200, ("id,original_id\n" + "\n".join(pairs)).encode(), MIME["csv"])
        body = "".join(f"<id>{p.split(',')[0]}</id>" for p in pairs)
        return Response(200, f'<?xml version="1.0" encoding="UTF-8" ?><ids>{body}</ids>'.encode(),
                        MIME["xml"])
    if rf == "json":
        return Response(200, json.dumps({"count": len(names)}).encode(), MIME["json"])
    body, ctype = encode_scalar(len(names), rf)
    return Response(200, body, ctype)


def load_trusted_rows(ctx: Context, rows: list[dict[str, str]]) -> None:
    """Import rows without per-value validation (Project XML ClinicalData: REDCap keeps
    whatever the exporting server held). Rows with the same key are merged first."""
    merged: dict[tuple[str, ...], dict[str, str]] = {}
    for r in rows:
        key = tuple(r.get(k, "") for k in (ctx.meta.record_id, *_SPECIAL[:3]))
        merged.setdefault(key, {}).update({k: v for k, v in r.items() if v != ""} | {
            k: r[k] for k in r if k in _SPECIAL or k == ctx.meta.record_id})
    plan, dag_of = _plan_import(ctx, list(merged.values()), False, "YMD", validate=False)
    _write(ctx, plan, dag_of, False)


def _ids_body(names: list[str], rf: str) -> Response:
    if rf == "json":
        return Response(200, json.dumps(names).encode(), MIME["json"])
    if rf == "csv":
        return Response(200, ("id\n" + "\n".join(names)).encode(), MIME["csv"])
    body = "".join(f"<id>{n}</id>" for n in names)
    return Response(200, f'<?xml version="1.0" encoding="UTF-8" ?><ids>{body}</ids>'.encode(),
                    MIME["xml"])


def _plan_import(ctx: Context, rows: list[dict[str, str]], overwrite: bool,
                 date_format: str, *, validate: bool = True,
                 ) -> tuple[list[PlannedRow], dict[str, str]]:
    """Validate every row; return the planned writes and DAG assignments (or raise 400)."""
    meta = ctx.meta
    pk = meta.record_id
    if not rows:
        raise ApiError("No data was provided.")
    header: list[str] = _header(rows)
    if pk not in header:
        raise ApiError(f"The record id field ({pk}) is missing.")
    timestamps = {f"{f}_timestamp" for f in meta.forms}
    unknown = [h for h in header if h not in meta.columns and h not in _SPECIAL
               and h not in timestamps
               and not (h in meta.fields and meta.fields[h].ftype != "descriptive")]
    if unknown:
        raise ApiError("The following fields were not found in the project as real data "
                       "fields: " + ", ".join(unknown))
    if not meta.has_repeating and any(
            r.get("redcap_repeat_instrument", "") or r.get("redcap_repeat_instance", "")
            for r in rows):
        raise ApiError("Trying to import repeat instance/instrument fields! This project does "
                       "not have any repeating instruments or events enabled.")
    data_cols: dict[str, tuple[str, str, str, Any]] = {}
    for h in header:
        if h in _SPECIAL or h in timestamps or h == pk:
            continue
        spec = meta.columns.get(h)
        if spec is None:  # a checkbox base name or calc/file field
            f = meta.fields[h]
            if f.ftype in ("calc", "file") or "@CALC" in f.annotation.upper():
                continue
            continue
        kind, target, code = spec
        if kind == "field":
            f = meta.fields[target]
            if f.ftype in ("calc", "file") or "@CALCTEXT" in f.annotation.upper() \
                    or "@CALCDATE" in f.annotation.upper():
                continue
            form = f.form
        elif kind == "checkbox":
            form = meta.fields[target].form
        else:
            form = target
        data_cols[h] = (kind, target, form,
                        _validator(meta, target) if kind == "field" and validate else None)
    fast = None
    if not overwrite:
        fast = _DistinctValues(meta, header, data_cols, pk)
        got = _plan_rows(ctx, rows, data_cols, overwrite, date_format, fast)
        if got is not None:
            return got
    got = _plan_rows(ctx, rows, data_cols, overwrite, date_format, None)
    if got is None:  # pragma: no cover - the exact pass always answers
        raise ApiError("import planning failed")
    return got


def _header(rows: list[dict[str, Any]]) -> list[str]:
    """The import's column names in order of first appearance, i.e.
    ``list(dict.fromkeys(chain.from_iterable(rows)))``, visiting only the rows that add a
    name (export-shaped rows all carry the same columns: one C-level subset test each)."""
    header: dict[str, None] = {}
    known: frozenset[str] = frozenset()
    for r in rows:
        if known.issuperset(r):
            continue
        header.update(dict.fromkeys(r))
        known = frozenset(header)
    return list(header)


class _DistinctValues:
    """The import's values checked once per distinct (column, value) pair.

    Study data repeats values heavily (codes, dates, doses), so validating the distinct pairs
    after one pass of C-level dict/set operations per row replaces a Python-level step per
    value. Any pair that is not stored exactly as given (a failure, a blank after stripping,
    a date needing conversion, a non-text value) sends the import back to the value-by-value
    pass, which words the errors and conversions exactly as before.
    """

    def __init__(self, meta: ProjectMeta, header: list[str], data_cols: dict[str, Any], pk: str):
        self.data_cols = data_cols
        self.skipped = frozenset(h for h in header if h not in data_cols)
        self.pairs: set[tuple[str, Any]] = set()
        self._allowed: dict[frozenset[str], frozenset[str]] = {}

    def allowed(self, forms: frozenset[str]) -> frozenset[str]:
        """Columns a row showing ``forms`` may carry a value in."""
        got = self._allowed.get(forms)
        if got is None:
            got = self._allowed[forms] = self.skipped | {
                h for h, spec in self.data_cols.items() if spec[2] in forms}
        return got

    def all_valid(self, data_cols: dict[str, Any], date_format: str) -> bool:
        ymd = date_format == "YMD"
        for h, v in self.pairs:
            if type(v) is not str or v.strip() != v:
                return False
            kind, _target, _form, check = data_cols[h]
            if kind == "checkbox":
                if v not in ("0", "1"):
                    return False
            elif kind == "complete":
                if v not in COMPLETE_LABELS:
                    return False
            elif check is not None:
                if check.dates and not (ymd and canonical_date(v)):
                    return False
                if check(v):
                    return False
        return True


def _plan_rows(ctx: Context, rows: list[dict[str, Any]], data_cols: dict[str, Any],
               overwrite: bool, date_format: str, fast: _DistinctValues | None,
               ) -> tuple[list[PlannedRow], dict[str, str]] | None:
    """The import plan, value by value (``fast=None``) or by distinct values; ``None`` when
    the distinct-value pass met anything the exact pass must word (errors, conversions)."""
    meta = ctx.meta
    pk = meta.record_id
    errors: list[str] = []
    record_errors: list[str] = []
    bad_events: list[str] = []
    plan: list[PlannedRow] = []
    dag_of: dict[str, str] = {}
    dags = meta.dag_names
    new_counter: dict[tuple[str, str, str], int] = {}
    seen: dict[RowKey, PlannedRow] = {}
    first_event = meta.event_names[0] if meta.longitudinal and meta.events else ""
    text_keys = (pk, *_SPECIAL)
    name_errors: dict[str, Any] = {}
    repeating: dict[Any, bool] = {}  # (form, event) and event → repeats there
    shown: dict[tuple[str, str, bool], frozenset[str]] = {}
    allowed_of: dict[frozenset[str], frozenset[str]] = {}
    longitudinal = meta.longitudinal
    for r in rows:
        for k in text_keys:
            v = r.get(k)
            if v is not None and type(v) is not str:
                r[k] = to_text(v)
        rec = r.get(pk, "").strip()
        if not rec:
            record_errors.append(f"The record id field ({pk}) is missing.")
            continue
        msg = name_errors.get(rec, _UNSET)
        if msg is _UNSET:  # a record's rows come together: check its name once
            msg = name_errors[rec] = _record_name_error(rec)
        if msg:
            record_errors.append(msg)
            continue
        ev = ""
        if longitudinal:
            ev = r.get("redcap_event_name", "").strip() or first_event
            if meta.event(ev) is None:
                bad_events.append(ev)
                continue
        ri = r.get("redcap_repeat_instrument", "").strip()
        rinst_raw = r.get("redcap_repeat_instance", "").strip()
        inst = 0
        if ri:
            repeats = repeating.get((ri, ev))
            if repeats is None:
                repeats = repeating[(ri, ev)] = meta.repeating_form(ri, ev)
            if ri not in meta.form_fields or not repeats:
                record_errors.append(f"The value of redcap_repeat_instrument ({ri}) is not a "
                                     "repeating instrument in this project/event.")
                continue
        event_repeats = repeating.get(ev)
        if event_repeats is None:
            event_repeats = repeating[ev] = meta.repeating_event(ev)
        if ri or event_repeats:
            if rinst_raw == "new":
                ck = (rec, ev, ri)
                if ck not in new_counter:
                    new_counter[ck] = _max_instance(ctx, rec, ev, ri)
                new_counter[ck] += 1
                inst = new_counter[ck]
            elif rinst_raw.isdigit() and 1 <= int(rinst_raw) <= 32767:
                inst = int(rinst_raw)
            elif not rinst_raw:
                inst = 1
            else:
                record_errors.append(f"The value of redcap_repeat_instance ({rinst_raw}) must be "
                                     "a positive integer of at most 32767 or 'new'.")
                continue
        elif rinst_raw:
            record_errors.append(f"Record {rec}: redcap_repeat_instance was given without a "
                                 "repeating instrument or repeating event.")
            continue
        key: RowKey = (rec, ev, ri, inst)
        shape = (ev, ri, bool(inst))
        forms = shown.get(shape)
        if forms is None:
            forms = shown[shape] = applicable_forms(meta, key)
        vals: dict[str, str] = {}
        if fast is not None:
            # normal imports ignore blank/null values: drop them at C speed (export-shaped
            # rows are mostly blank); the values are checked once per distinct value below
            vals = dict(filter(_second, r.items()))
            names = vals.keys()
            allowed = allowed_of.get(forms)
            if allowed is None:
                allowed = allowed_of[forms] = fast.allowed(forms)
            if not allowed.issuperset(vals):
                return None  # a value outside the row's forms: the exact path says which
            for h in names & fast.skipped:
                del vals[h]
            try:
                fast.pairs.update(vals.items())
            except TypeError:  # an unhashable value (a JSON list...): the exact path
                return None
            names = ()
        else:
            names = r.items() if overwrite else filter(_second, r.items())
        for h, v in names:
            spec = data_cols.get(h)
            if spec is None:
                continue
            kind, target, form, check = spec
            v = (v if type(v) is str else to_text(v)).strip()
            if form not in forms:
                if v != "":
                    if meta.longitudinal and form not in meta.forms_on_event(ev):
                        errors.append(_csv_line(
                            rec, h, v, f"This field ('{h}') exists on an instrument that is not "
                            f"designated for the event named '{meta.event_label(ev)}'. You are "
                            "not allowed to import data for this field into this event."))
                    else:
                        errors.append(_csv_line(
                            rec, h, v, f"This field is on the instrument '{form}', which does "
                            "not match the redcap_repeat_instrument/redcap_repeat_instance of "
                            "this row."))
                continue
            if v == "":
                if overwrite:
                    vals[h] = "0" if kind == "checkbox" else ""
                continue
            if kind == "checkbox":
                if v not in ("0", "1"):
                    errors.append(_csv_line(rec, h, v, f"{target} is a checkbox field and thus "
                                            "can only have a value of '1' (checked) or '0' "
                                            "(unchecked)."))
                    continue
            elif kind == "complete":
                if v not in COMPLETE_LABELS:
                    errors.append(_csv_line(rec, h, v, f"The value is not a valid category for {h}"))
                    continue
            else:
                if check is not None:
                    if check.dates and (date_format != "YMD" or not canonical_date(v)):
                        v = convert_date(v, check.validation, date_format)
                    problem = check(v)
                    if problem:
                        errors.append(_csv_line(rec, h, v, problem))
                        continue
            vals[h] = v
        if "redcap_data_access_group" in r:
            d = r["redcap_data_access_group"].strip()
            if d and d not in dags:
                errors.append(_csv_line(rec, "redcap_data_access_group", d,
                                        "The value is not a valid Data Access Group"))
            elif ctx.user_dag and d and d != ctx.user_dag:
                errors.append(_csv_line(rec, "redcap_data_access_group", d,
                                        "You cannot assign a record to another Data Access "
                                        "Group because you are in a Data Access Group"))
            elif d or overwrite:
                dag_of[rec] = d
        prior = seen.get(key)
        if prior is not None:
            if not meta.longitudinal and not meta.has_repeating:
                record_errors.append("The records listed below occur more than once in the "
                                     f"data being imported: {rec}")
                continue
            prior.values.update(vals)
        else:
            planned = PlannedRow(key, vals)
            seen[key] = planned
            plan.append(planned)
    if fast is not None and not fast.all_valid(data_cols, date_format):
        return None
    if bad_events:
        raise ApiError("The following values of redcap_event_name are invalid: "
                       + ", ".join(dict.fromkeys(bad_events)))
    if record_errors:
        raise ApiError(record_errors[0])
    if errors:
        raise ApiError("\n".join(errors))
    if ctx.user_dag:
        for p in plan:
            dag_of.setdefault(p.key[0], ctx.user_dag)
    return plan, dag_of


def _validator(meta: ProjectMeta, name: str) -> Any:
    """The prepared import check of a field, cached with the design."""
    validators = meta.cache.setdefault("validators", {})
    check = validators.get(name, _UNSET)
    if check is _UNSET:
        check = validators[name] = make_validator(meta.fields[name])
    return check


def _max_instance(ctx: Context, rec: str, ev: str, ri: str) -> int:
    stored = ctx.store.read_rows(ctx.pid, [rec])
    return max((k[3] for k in stored if k[1] == ev and k[2] == ri), default=0)


def _stored_dags(conn: Any, pid: int, names: list[str]) -> dict[str, str]:
    """record → DAG of those of ``names`` that exist (the rest of the project is not read, so
    an import's cost does not grow with the project)."""
    return dict(select_for_records(conn, "SELECT record, dag FROM records WHERE pid=?", pid,
                                   names))


def _write(ctx: Context, plan: list[PlannedRow], dag_of: dict[str, str],
           overwrite: bool) -> None:
    meta = ctx.meta
    pk = meta.record_id
    pid = ctx.pid
    ts = now()
    with ctx.store.write() as conn:
        names = list(dict.fromkeys(p.key[0] for p in plan))
        existing = set(_stored_dags(conn, pid, names))
        touched_old = [r for r in names if r in existing]
        rows = ctx.store.read_rows(pid, touched_old, conn=conn) if touched_old else {}
        changed: dict[RowKey, dict[str, Any]] = {}
        details: dict[str, list[str]] = defaultdict(list)
        columns = meta.columns
        boxes = _checkbox_columns(meta)
        box_order = _checkbox_order(meta)
        bulk = not overwrite and _BULK_WRITE
        for p in plan:
            rec = p.key[0]
            notes = details[rec]
            values = p.values
            if bulk and len(notes) < 50:
                # the log keeps a record's first 50 notes
                notes.extend(
                    f"{col} = '{('checked' if v == '1' else 'unchecked') if col in boxes else v}'"
                    for col, v in islice(values.items(), 50 - len(notes)))
            row = changed.get(p.key)
            if row is None:
                stored = rows.get(p.key)
                if stored is None and bulk:
                    # a new row: the plan's own dict (no blanks in a normal import) becomes it;
                    # an unchecked box has nothing to clear, a checked one joins the field's
                    # list of codes in choice order
                    hit = boxes.intersection(values)
                    for col in sorted(hit, key=box_order.__getitem__) if hit else ():
                        if values.pop(col) == "1":
                            _, target, code = columns[col]
                            codes = values.get(target)
                            if codes is None:
                                values[target] = [code]
                            elif code not in codes:
                                codes.append(code)
                    values[pk] = rec
                    changed[p.key] = values
                    continue
                row = changed[p.key] = dict(stored or ())
            row[pk] = rec
            if bulk:
                # no blanks (only overwrite imports carry them): the values are stored as
                # given at C speed, then checkbox columns become the field's list of codes
                row.update(values)
                if boxes.isdisjoint(values):
                    continue
                for col in [c for c in values if c in boxes]:
                    del row[col]
                    _, target, code = columns[col]
                    codes = row.get(target, [])
                    if values[col] == "1":
                        if code not in codes:
                            row[target] = [*codes, code]
                    elif code in codes:
                        codes = [c for c in codes if c != code]
                        if codes:
                            row[target] = codes
                        else:
                            del row[target]
                continue
            for col, v in values.items():
                kind, target, code = columns[col]
                if kind == "checkbox":
                    codes = row.get(target, [])
                    if v == "1" and code not in codes:
                        row[target] = [*codes, code]
                    elif v != "1" and code in codes:
                        codes = [c for c in codes if c != code]
                        if codes:
                            row[target] = codes
                        else:
                            del row[target]
                    if len(notes) < 50:
                        notes.append(f"{col} = '{'checked' if v == '1' else 'unchecked'}'")
                    continue
                if v == "":
                    row.pop(col, None)
                else:
                    row[col] = v
                if len(notes) < 50:
                    notes.append(f"{col} = '{v}'")
        rows.update(changed)
        # the rows are this request's own copies: calcs may update them in place
        _recalculate(ctx, rows, names)
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


def _recalculate(ctx: Context, rows: dict[RowKey, dict[str, Any]],
                 records: list[str]) -> dict[RowKey, dict[str, Any]]:
    """Re-run calc fields for the touched records (REDCap does this after every save)."""
    return recalculate(ctx.meta, rows, records, in_place=True)


# ---------------------------------------------------------------- delete and next name


@endpoint("record", "delete")
def delete_records(ctx: Context) -> Response:
    ctx.require("record_delete")
    req, meta = ctx.req, ctx.meta
    if "records" not in req.arrays:
        if req.has("records"):
            raise ApiError("Incorrect format for 'records' parameter. It must be an array.")
        raise ApiError("The 'records' parameter is an empty array. It must contain at least one "
                       "record name.")
    records = req.listing("records")
    if not records:
        raise ApiError("The 'records' parameter is an empty array. It must contain at least one "
                       "record name.")
    known = record_dags(ctx)
    missing = [r for r in records if r not in known]
    if missing:
        raise ApiError("One or more of the records provided cannot be deleted because they do "
                       "not exist in the project. The following records do not exist: "
                       + ", ".join(missing))
    arm, event = req.get("arm"), req.get("event")
    instrument, instance = req.get("instrument"), req.get("repeat_instance")
    arms = {a["arm_num"] for a in meta.config.get("arms", [])}
    if arm and (not meta.longitudinal or not arm.isdigit() or int(arm) not in arms):
        raise ApiError("The arm provided is not correct for the project.")
    if event and (not meta.longitudinal or meta.event(event) is None):
        raise ApiError(f"The event '{event}' is not valid for this project.")
    if instrument and instrument not in meta.form_fields:
        raise ApiError(f"The instrument '{instrument}' is not valid for this project.")
    arm_events = ({e["unique_event_name"] for e in meta.events if e["arm_num"] == int(arm)}
                  if arm else None)
    narrowed = bool(arm or event or instrument or instance)
    form_fields = set()
    if instrument:
        form_fields = {n for n in meta.form_fields[instrument] if n != meta.record_id}
        form_fields.add(f"{instrument}_complete")
    inst = int(instance) if instance.isdigit() else (-1 if instance else None)
    count = 0
    with ctx.store.write() as conn:
        rows = ctx.store.read_rows(ctx.pid, records, conn=conn)
        by_record: dict[str, list[RowKey]] = defaultdict(list)
        for key in rows:
            by_record[key[0]].append(key)
        changed: dict[RowKey, dict[str, Any]] = {}
        for rec in records:
            hit = False
            for key in by_record.get(rec, []):
                _, ev, ins, row_inst = key
                if arm_events is not None and ev not in arm_events:
                    continue
                if event and ev != event:
                    continue
                if inst is not None and row_inst != inst:
                    continue
                if instrument:
                    if ins and ins != instrument:
                        continue
                    if ins == instrument:  # a repeating instance of that form: the whole row
                        changed[key] = {}
                        hit = True
                        continue
                    row = {k: v for k, v in rows[key].items() if k not in form_fields}
                    if row != rows[key]:
                        changed[key] = row
                        hit = True
                    continue
                changed[key] = {}
                hit = True
            survivors = [k for k in by_record.get(rec, []) if changed.get(k, rows[k])]
            whole = not narrowed or not survivors
            if whole:
                for k in by_record.get(rec, []):
                    changed[k] = {}
                conn.execute("DELETE FROM records WHERE pid=? AND record=?", (ctx.pid, rec))
            if hit or whole:
                count += 1
                ctx.log(conn, "record_delete", f"Delete record (API) {rec}",
                        "" if not narrowed else f"arm={arm} event={event} "
                        f"instrument={instrument} instance={instance}", rec)
        ctx.store.write_rows(conn, ctx.pid, changed)
    return Response(200, str(count).encode(), MIME.get(req.return_format, MIME["json"]))


def next_record_number(ctx: Context) -> int:
    prefix = _dag_prefix(ctx)
    best = 0
    for (rec,) in ctx.store.conn.execute("SELECT record FROM records WHERE pid=?", (ctx.pid,)):
        tail = rec[len(prefix):] if prefix and rec.startswith(prefix) else (
            rec if not prefix else "")
        if re.fullmatch(r"\d+", tail or "x"):
            best = max(best, int(tail))
    return best + 1


def _dag_prefix(ctx: Context) -> str:
    dag = ctx.user_dag
    if not dag:
        return ""
    for d in ctx.config.get("dags", []):
        if d["unique_group_name"] == dag:
            return f"{d['data_access_group_id']}-"
    return ""


@endpoint("generateNextRecordName")
def generate_next_record_name(ctx: Context) -> Response:
    ctx.require("api_export")
    name = f"{_dag_prefix(ctx)}{next_record_number(ctx)}"
    return Response(200, name.encode(), MIME["csv"] if ctx.req.format == "csv" else "text/html")
