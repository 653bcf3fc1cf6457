"""Project creation from a REDCap Project XML (CDISC ODM 1.3.1 with ``redcap:`` extensions).

Builds forms and fields, arms, events and their form mappings, DAGs, user roles, repeating
instruments/events, surveys and the survey queue, and loads ``ClinicalData`` (including DAG
assignments and ``ItemDataBase64Binary`` file uploads). REDCAP_API.md §3 (bootstrap).
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from sgbm_redcap.dictionary.odm import read_project_xml
from sgbm_redcap.errors import DictionaryError

from .endpoints.files import store_field_file
from .endpoints.records import load_trusted_rows
from .handler import Context
from .protocol import ApiError, Request

if TYPE_CHECKING:
    from .core import Sandbox

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "redcap": "https://projectredcap.org"}
R = "{https://projectredcap.org}"
O = "{http://www.cdisc.org/ns/odm/v1.3}"  # noqa: E741


def _r(el: ET.Element, name: str, default: str = "") -> str:
    return el.get(R + name, default)


_NOT_XML = ("The XML file could not be processed because it appears not to be valid XML or is "
            "missing certain basic components.")


def parse_odm(text: str) -> dict[str, Any]:
    """The parts of a Project XML the sandbox uses, as plain data, read by the one Project
    XML reader (``dictionary.odm.read_project_xml``)."""
    try:
        xml = read_project_xml(text)
    except DictionaryError as exc:
        raise ApiError(_NOT_XML) from exc
    return {
        "title": xml.title, "settings": dict(xml.settings), "dags": list(xml.dag_labels),
        "roles": xml.roles, "repeating": xml.repeating, "surveys": xml.surveys,
        "survey_queue": xml.survey_queue, "form_labels": xml.form_labels,
        "metadata": [dict(f.raw) for f in xml.dictionary.fields],
        "events": [dict(e) for e in xml.events], "fem": xml.form_event_mapping,
        "clinical": xml.clinical,
    }


#: REDCap's log entry for a project created through the API (its log's description list)
API_CREATION = "Create project (API)"


def create_from_odm(sb: Sandbox, odm_text: str, settings: dict[str, Any], *,
                    username: str) -> str:
    """Create a project from Project XML; ``settings`` (the API ``data``) win over the XML.

    The creation is logged after the XML's records: PyCap's export_logging doctest, recorded
    from a real server, has entries older than ``Create project (API)`` in a log that is
    newest first (docs/sandbox.md, "Evidence")."""
    parsed = parse_odm(odm_text)
    merged = dict(parsed["settings"])
    merged.update(settings)
    title = merged.pop("project_title", None) or parsed["title"] or "Untitled"
    longitudinal = bool(parsed["events"]) and (
        int(merged.get("is_longitudinal", 0) or 0) == 1 or len(parsed["events"]) > 1
        or len({e["arm_num"] for e in parsed["events"]}) > 1)
    arms: dict[int, str] = {}
    for e in parsed["events"]:
        arms.setdefault(e["arm_num"], e.pop("arm_name") or f"Arm {e['arm_num']}")
    merged["is_longitudinal"] = 1 if longitudinal else 0
    merged["form_labels"] = parsed["form_labels"]
    if parsed["surveys"]:
        merged["surveys_enabled"] = 1
    merged["surveys"] = parsed["surveys"]
    merged["survey_queue"] = parsed["survey_queue"]
    token = sb.create_project(
        metadata=parsed["metadata"], title=title, username=username, settings=merged,
        dags=[d for d in parsed["dags"] if d],
        arms=[{"arm_num": k, "name": v} for k, v in sorted(arms.items())] if longitudinal else (),
        events=parsed["events"] if longitudinal else (),
        form_event_mapping=parsed["fem"] if longitudinal else (),
        repeating_forms=(), log_details=None,
    )
    owner = sb.store.token_owner(token)
    pid = owner[0] if owner else 0
    with sb.store.write() as conn:
        _, config = sb.store.project_config(pid)
        config["repeating"] = [r if longitudinal else dict(r, event_name="")
                               for r in parsed["repeating"]]
        forms = list(dict.fromkeys(r["form_name"] for r in config["metadata"]))
        for role in parsed["roles"]:
            config["roles"].append(_role(role, forms))
        sb.store.save_config(conn, pid, config)
    if parsed["clinical"] is not None:
        _load_clinical(sb, token, pid, parsed["clinical"], longitudinal)
    with sb.store.write() as conn:
        Context(sb, Request(), pid, username, "import").log(conn, "manage", "Manage/Design ",
                                                            API_CREATION)
    return token


def _role(attrs: dict[str, str], forms: list[str]) -> dict[str, Any]:
    rename = {"role_name": "role_label", "data_logging": "logging", "data_quality_design":
              "data_quality_create", "lock_record": "lock_records",
              "lock_record_customize": "lock_records_customization",
              "lock_record_multiform": "lock_records_all_forms", "graphical": "stats_and_charts",
              "participants": "manage_survey_participants"}
    role: dict[str, Any] = {"unique_role_name": attrs.get("unique_role_name", ""),
                            "role_label": attrs.get("role_name", "")}
    for k, v in attrs.items():
        if k in ("unique_role_name", "role_name", "data_entry", "data_export_instruments",
                 "external_module_config"):
            continue
        role[rename.get(k, k)] = int(v) if v.lstrip("-").isdigit() else v
    entry = {f: 0 for f in forms}
    for part in attrs.get("data_entry", "").strip("[]").split("]["):
        name, _, level = part.partition(",")
        if name in entry:
            entry[name] = int(level or 0)
    role["forms"] = entry
    role["forms_export"] = {f: int(attrs.get("data_export_tool", "0") or 0) for f in forms}
    return role


#: ODM's datetime (``2023-07-31T14:49:07``), which REDCap's Project XML carries for datetime
#: fields; REDCap stores and exports them with a space (``2023-07-31 14:49:07``).
_ODM_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)$")


def _stored_value(meta: Any, oid: str, value: str) -> str:
    """An ``ItemData`` value as REDCap stores it: a datetime field's ISO ``T`` becomes the
    space of REDCap's own format (else DQ rule C would call every such value invalid)."""
    info = meta.fields.get(oid)
    if info is not None and info.validation.startswith("datetime"):
        m = _ODM_DATETIME.match(value)
        if m:
            return f"{m.group(1)} {m.group(2)}"
    return value


def _load_clinical(sb: Sandbox, token: str, pid: int, clinical: ET.Element,
                   longitudinal: bool) -> None:
    """Import ClinicalData through the API itself, so it is validated and logged as usual."""
    meta = sb.store.meta(pid)
    pk = meta.record_id
    rows: list[dict[str, str]] = []
    files: list[tuple[str, str, str, int, str, str, bytes]] = []
    for subject in clinical.findall("odm:SubjectData", NS):
        rec = subject.get("SubjectKey", "")
        # classic projects may put FormData straight under SubjectData
        containers = subject.findall("odm:StudyEventData", NS) or [subject]
        for sed in containers:
            event = _r(sed, "UniqueEventName") if longitudinal else ""
            repeat_event = meta.repeating_event(event)
            for fd in sed.findall("odm:FormData", NS):
                form = fd.get("FormOID", "").removeprefix("Form.")
                key = fd.get("FormRepeatKey", "1")
                instance = ""
                instrument = ""
                if repeat_event:
                    instance = sed.get("StudyEventRepeatKey", "1")
                elif meta.repeating_form(form, event):
                    instrument, instance = form, key
                row: dict[str, str] = {pk: rec}
                if longitudinal:
                    row["redcap_event_name"] = event
                if meta.has_repeating:
                    row["redcap_repeat_instrument"] = instrument
                    row["redcap_repeat_instance"] = instance
                for item in fd.iter(O + "ItemData"):
                    oid, value = item.get("ItemOID", ""), item.get("Value", "")
                    row[oid] = _stored_value(meta, oid, value)
                for b in fd.iter(O + "ItemDataBase64Binary"):
                    files.append((rec, event, instrument, int(instance or 0),
                                  b.get("ItemOID", ""), _r(b, "DocName") + "\x00" +
                                  _r(b, "MimeType", "application/octet-stream"),
                                  base64.b64decode((b.text or "").strip())))
                rows.append(row)
    rows = [{k: v for k, v in r.items()
             if k in (pk, "redcap_event_name", "redcap_repeat_instrument",
                      "redcap_repeat_instance", "redcap_data_access_group")
             or (k in meta.columns and not (meta.columns[k][0] == "field"
                 and meta.fields[k].ftype in ("calc", "file")))} for r in rows]
    if rows:
        owner = sb.store.token_owner(token)
        # REDCap stores no calc values when it creates a project from XML: they are computed
        # when a record is next saved (PyCap's simple project: 30 EAV values, not 34)
        load_trusted_rows(Context(sb, Request(), pid, owner[1] if owner else "", "import"), rows,
                          recalc=False)
    for rec, event, instrument, instance, field, name_mime, content in files:
        name, _, mime = name_mime.partition("\x00")
        store_field_file(sb, pid, rec, event, instrument, instance, field, name, mime, content)
