"""Survey links and codes, the participant list, and stored reports (REDCAP_API.md §4.6)."""

from __future__ import annotations

import hashlib
from typing import Any

from ..handler import Context, Response, endpoint
from ..protocol import MIME, ApiError, encode_rows
from .records_export import export_records


def _code(*parts: Any, length: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789") -> str:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def _survey(ctx: Context) -> tuple[str, str, str, dict[str, Any]]:
    req, meta = ctx.req, ctx.meta
    record, instrument = req.get("record"), req.get("instrument")
    if not record:
        raise ApiError("The parameter 'record' is missing")
    survey = ctx.config.get("surveys", {}).get(instrument)
    if instrument not in meta.form_fields or survey is None:
        raise ApiError(f"The instrument '{instrument}' has not been enabled as a survey")
    event = req.get("event") if meta.longitudinal else ""
    if meta.longitudinal and meta.event(event) is None:
        raise ApiError("invalid event")
    return record, instrument, event, survey


def _base(ctx: Context) -> str:
    url = ctx.sb.public_url
    return url if url.endswith("/") else url + "/"


@endpoint("surveyLink")
def survey_link(ctx: Context) -> Response:
    ctx.require("api_export")
    record, instrument, event, _ = _survey(ctx)
    h = _code(ctx.pid, record, instrument, event, ctx.req.get("repeat_instance", "1"), length=10)
    return Response(200, f"{_base(ctx)}surveys/?s={h}".encode(), "text/html")


@endpoint("surveyQueueLink")
def survey_queue_link(ctx: Context) -> Response:
    ctx.require("api_export")
    record = ctx.req.get("record")
    if not record:
        raise ApiError("The parameter 'record' is missing")
    if not ctx.config.get("survey_queue"):
        raise ApiError("The Survey Queue has not been enabled in this project. You must first "
                       "enable the Survey Queue before using this method.")
    return Response(200, f"{_base(ctx)}surveys/?sq={_code(ctx.pid, record, length=10)}".encode(),
                    "text/html")


@endpoint("surveyAccessCode")
def survey_access_code(ctx: Context) -> Response:
    ctx.require("api_export")
    record, instrument, event, _ = _survey(ctx)
    code = _code("access", ctx.pid, record, instrument, event,
                 ctx.req.get("repeat_instance", "1"), length=9)
    return Response(200, code.encode(), "text/html")


@endpoint("surveyReturnCode")
def survey_return_code(ctx: Context) -> Response:
    ctx.require("api_export")
    record, instrument, event, survey = _survey(ctx)
    if str(survey.get("save_and_return", "0")) != "1":
        raise ApiError("The 'Save & Return Later' feature has not been enabled for this survey")
    code = _code("return", ctx.pid, record, instrument, event,
                 ctx.req.get("repeat_instance", "1"), length=8)
    return Response(200, code.encode(), "text/html")


@endpoint("participantList")
def participant_list(ctx: Context) -> Response:
    ctx.require("api_export")
    meta = ctx.meta
    instrument = ctx.req.get("instrument")
    if instrument not in meta.form_fields or instrument not in ctx.config.get("surveys", {}):
        raise ApiError(f"The instrument '{instrument}' has not been enabled as a survey")
    event = ctx.req.get("event") if meta.longitudinal else ""
    ev = meta.event(event) if meta.longitudinal else None
    if meta.longitudinal and ev is None:
        raise ApiError("invalid event")
    email_field = next((n for n, f in meta.fields.items() if f.validation == "email"), None)
    rows = []
    stored = ctx.store.read_rows(ctx.pid)
    emails: dict[str, str] = {}
    for key, values in stored.items():
        if email_field and values.get(email_field):
            emails.setdefault(key[0], values[email_field])
    records = [r for (r,) in ctx.store.conn.execute("SELECT record FROM records WHERE pid=?",
                                                    (ctx.pid,))]
    if ev is not None:
        # a record belongs to the arms whose events hold its data: the list of a survey on
        # an event holds only the records of that event's arm
        arm_events = {e["unique_event_name"] for e in meta.events
                      if e["arm_num"] == ev["arm_num"]}
        in_arm = {key[0] for key in stored if key[1] in arm_events}
        records = [r for r in records if r in in_arm]
    for record in records:
        email = emails.get(record, "")
        h = _code(ctx.pid, record, instrument, event, "1", length=10)
        rows.append({"email": email, "email_occurrence": 1, "identifier": "",
                     "record": record, "invitation_sent_status": 0,
                     "invitation_send_time": "", "response_status": 0,
                     "survey_access_code": _code("access", ctx.pid, record, instrument, event,
                                                 "1", length=9),
                     "survey_link": f"{_base(ctx)}surveys/?s={h}"})
    body, ctype = encode_rows(rows, ctx.req.format, [
        "email", "email_occurrence", "identifier", "record", "invitation_sent_status",
        "invitation_send_time", "response_status", "survey_access_code", "survey_link"])
    return Response(200, body, ctype)


@endpoint("report")
def export_report(ctx: Context) -> Response:
    """A stored report (``Sandbox.add_report``): its fields and filter over a record export."""
    report_id = ctx.req.get("report_id")
    report = ctx.config.get("reports", {}).get(report_id)
    if report is None:
        raise ApiError("The value of the parameter 'report_id' is not valid")
    req = ctx.req
    req.params["filterLogic"] = report.get("filter_logic", "")
    req.arrays["fields"] = list(report.get("fields", []))
    req.arrays.pop("forms", None)
    req.arrays.pop("records", None)
    req.params["type"] = "flat"
    if report.get("export_dags"):
        req.params["exportDataAccessGroups"] = "1"
    return export_records(ctx)


__all__ = ["MIME"]
