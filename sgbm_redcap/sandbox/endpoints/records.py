"""``content=record`` import and delete, and ``generateNextRecordName`` (REDCAP_API.md
§4.4–§4.5); the export is :mod:`.records_export`.

An import is planned in full first (:mod:`.records_plan`: every value checked, REDCap's 400
for anything wrong) and then written in one transaction (:mod:`.records_write`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from ..handler import Context, Response, endpoint
from ..protocol import MIME, ApiError, encode_scalar, parse_data, to_text
from ..rows import RowKey
from .records_export import record_dags
from .records_plan import SPECIAL, PlannedRow, eav_to_flat, plan_import
from .records_write import stored_dags, write_plan

__all__ = ["import_records", "delete_records", "load_trusted_rows",
           "next_record_number", "generate_next_record_name"]


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
        rows = eav_to_flat(meta, [{k: to_text(v) for k, v in r.items()} for r in rows])
    overwrite = req.get("overwriteBehavior") == "overwrite"
    date_format = req.get("dateFormat", "YMD").upper()
    content = req.get("returnContent")
    content = content if content in ("ids", "auto_ids", "nothing", "count") else "count"
    force_auto = req.flag("forceAutoNumber")
    plan, dag_of = plan_import(ctx, rows, overwrite, date_format)
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
        stored = stored_dags(ctx.store.conn, ctx.pid, names)
        foreign = [r for r in names if r in stored and stored[r] != ctx.user_dag]
        if foreign:
            raise ApiError("You do not have permission to modify the following records because "
                           "they belong to a Data Access Group you are not in: "
                           + ", ".join(foreign))
    write_plan(ctx, plan, dag_of, overwrite)
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


def load_trusted_rows(ctx: Context, rows: list[dict[str, str]], *,
                      recalc: bool = True) -> None:
    """Import rows without per-value validation (Project XML ClinicalData: REDCap keeps
    whatever the exporting server held). Rows with the same key are merged first; calcs
    are re-run only when ``recalc`` is true."""
    merged: dict[tuple[str, ...], dict[str, str]] = {}
    for r in rows:
        key = tuple(r.get(k, "") for k in (ctx.meta.record_id, *SPECIAL[:3]))
        merged.setdefault(key, {}).update({k: v for k, v in r.items() if v != ""} | {
            k: r[k] for k in r if k in SPECIAL or k == ctx.meta.record_id})
    plan, dag_of = plan_import(ctx, list(merged.values()), False, "YMD", validate=False)
    write_plan(ctx, plan, dag_of, False, recalc=recalc)


def _ids_body(names: list[str], rf: str) -> Response:
    if rf == "json":
        return Response(200, json.dumps(names).encode(), MIME["json"])
    if rf == "csv":
        return Response(200, ("id\n" + "\n".join(names)).encode(), MIME["csv"])
    body = "".join(f"<id>{n}</id>" for n in names)
    return Response(200, f'<?xml version="1.0" encoding="UTF-8" ?><ids>{body}</ids>'.encode(),
                    MIME["xml"])


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
