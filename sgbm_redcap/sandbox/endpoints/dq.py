"""The ``data_quality_api`` external module (Vanderbilt, MIT): DRW queries over the module API.

``POST <base>/api/?prefix=vanderbilt_dataQuality&page=export|import&type=module&NOAUTH&pid=N``
with ``token``, ``format=json``; export returns ``{status_id: {..., resolutions: {...}}}``,
import adds resolutions (creating the status row when needed) and returns the new res_ids.
REDCAP_API.md §6.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..handler import Context, Response, update_config
from ..protocol import MIME, ApiError, Request, now, parse_data

if TYPE_CHECKING:
    from ..core import Sandbox

PREFIX = "vanderbilt_dataQuality"
STATUSES = {"OPEN", "CLOSED", "VERIFIED", "DEVERIFIED"}
RESPONSES = {"DATA_MISSING", "TYPOGRAPHICAL_ERROR", "CONFIRMED_CORRECT", "WRONG_SOURCE", "OTHER"}
_NOT_ENABLED = "Make sure the Data Quality API module is enabled in your project."


def module_call(sb: Sandbox, req: Request) -> Response:
    token = req.get("token").strip()
    owner = sb.store.token_owner(token) if len(token) == 32 else None
    if owner is None or owner[0] is None:
        raise ApiError("You do not have permissions to use the API", 403)
    ctx = Context(sb, req, owner[0], owner[1], req.query.get("page", ""))
    pid_q = req.query.get("pid", "")
    if pid_q and pid_q != str(ctx.pid):
        raise ApiError("The pid does not match the project of this token", 403)
    enabled = PREFIX in str(ctx.config.get("external_modules", "")).split(",")
    if req.query.get("prefix") != PREFIX or not enabled:
        raise ApiError(_NOT_ENABLED, 400)
    if int(ctx.config.get("data_resolution_enabled", 0)) not in (1, 2):
        raise ApiError("The Data Resolution Workflow is not enabled in this project", 403)
    page = req.query.get("page")
    if page == "export":
        return _export(ctx)
    if page == "import":
        return _import(ctx)
    raise ApiError(f"The page '{page}' does not exist in module {PREFIX}", 404)


def _export(ctx: Context) -> Response:
    ctx.require("api_export")
    records = set(ctx.req.listing("record"))
    user = ctx.req.get("user")
    status = ctx.req.get("status").upper()
    out: dict[str, Any] = {}
    for sid, row in ctx.config.get("dq", {}).items():
        if records and row["record"] not in records:
            continue
        if status and row["query_status"] != status:
            continue
        if user and user not in {r["username"] for r in row["resolutions"].values()}:
            continue
        out[sid] = row
    return Response(200, json.dumps(out).encode(), MIME["json"])


def _import(ctx: Context) -> Response:
    ctx.require("api_import")
    rows = parse_data(ctx.req.get("data"), "json")
    meta = ctx.meta
    new_ids: list[int] = []

    def change(config: dict[str, Any]) -> None:
        dq = config.setdefault("dq", {})
        ids = config["next_ids"]
        for r in rows:
            field, record = r.get("field_name", ""), r.get("record", "")
            if field not in meta.fields:
                raise ApiError(f"The field '{field}' does not exist in this project")
            instance = str(r.get("instance", "") or "1")
            event_id = str(r.get("event_id", "") or "")
            row = next((s for s in dq.values() if s["record"] == record and s["field_name"] ==
                        field and str(s["instance"]) == instance and str(s["event_id"]) ==
                        event_id), None)
            if row is None:
                sid = ids.setdefault("status", 1)
                ids["status"] = sid + 1
                row = {"status_id": sid, "rule_id": r.get("rule_id", ""), "pd_rule_id": "",
                       "non_rule": 1, "project_id": ctx.pid, "record": record,
                       "event_id": event_id, "field_name": field, "repeat_instrument": "",
                       "instance": instance, "status": "", "exclude": 0, "query_status": "OPEN",
                       "assigned_username": r.get("assigned_username", ""),
                       "group_id": "", "resolutions": {}}
                dq[str(sid)] = row
            resolutions = _resolutions(r)
            for res in resolutions:
                qs = str(res.get("current_query_status", "OPEN")).upper()
                if qs not in STATUSES:
                    raise ApiError(f"Invalid current_query_status '{qs}'")
                resp = str(res.get("response", "") or "")
                if resp and resp not in RESPONSES:
                    raise ApiError(f"Invalid response '{resp}'")
                ts = str(res.get("ts", "") or now())
                username = str(res.get("username", "") or ctx.username)
                if any(x["ts"] == ts and x["username"] == username
                       for x in row["resolutions"].values()):
                    continue  # the module skips duplicates by ts + user
                rid = ids.setdefault("res", 1)
                ids["res"] = rid + 1
                row["resolutions"][str(rid)] = {
                    "res_id": rid, "status_id": row["status_id"], "ts": ts,
                    "response_requested": int(res.get("response_requested", 0) or 0),
                    "response": resp, "comment": str(res.get("comment", "")),
                    "current_query_status": qs, "upload_doc_id": "",
                    "field_comment_edited": 0, "username": username}
                row["query_status"] = qs
                new_ids.append(rid)
            if r.get("assigned_username"):
                row["assigned_username"] = r["assigned_username"]

    update_config(ctx, change)
    with ctx.store.write() as conn:
        ctx.log(conn, "record_edit", "Data Quality API import", f"{len(new_ids)} resolutions")
    return Response(200, json.dumps(new_ids).encode(), MIME["json"])


def _resolutions(r: dict[str, str]) -> list[dict[str, Any]]:
    raw = r.get("resolutions", "")
    if raw:
        obj = json.loads(raw) if isinstance(raw, str) else raw
        return list(obj.values()) if isinstance(obj, dict) else list(obj)
    return [{"comment": r.get("comment", ""), "username": r.get("username", ""),
             "ts": r.get("ts", ""), "current_query_status": r.get("current_query_status", "OPEN"),
             "response_requested": r.get("response_requested", 0),
             "response": r.get("response", "")}]
