"""Project creation from a REDCap Project XML (CDISC ODM 1.3.1 with ``redcap:`` extensions).

Builds forms and fields, arms, events and their form mappings, DAGs, user roles, repeating
instruments/events, surveys and the survey queue, and loads ``ClinicalData`` (including DAG
assignments and ``ItemDataBase64Binary`` file uploads). REDCAP_API.md §3 (bootstrap).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

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


def _text(el: ET.Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path, NS)
    return (found.text or "") if found is not None else ""


def parse_odm(text: str) -> dict[str, Any]:
    """The parts of a Project XML the sandbox uses, as plain data."""
    try:
        root = ET.fromstring(text.strip().encode("utf-8"))
    except ET.ParseError as exc:
        raise ApiError("The XML file could not be processed because it appears not to be valid "
                       "XML or is missing certain basic components.") from exc
    study = root.find("odm:Study", NS)
    mdv = study.find("odm:MetaDataVersion", NS) if study is not None else None
    if study is None or mdv is None:
        raise ApiError("The XML file could not be processed because it appears not to be valid "
                       "XML or is missing certain basic components.")
    gv = study.find("odm:GlobalVariables", NS)
    out: dict[str, Any] = {"title": _text(gv, "odm:StudyName"), "settings": {}}
    for tag, key in (("Purpose", "purpose"), ("PurposeOther", "purpose_other"),
                     ("ProjectNotes", "project_notes"), ("SurveysEnabled", "surveys_enabled"),
                     ("RecordAutonumberingEnabled", "record_autonumbering_enabled"),
                     ("SchedulingEnabled", "scheduling_enabled"),
                     ("CustomRecordLabel", "custom_record_label"),
                     ("SecondaryUniqueField", "secondary_unique_field"),
                     ("MissingDataCodes", "missing_data_codes")):
        el = gv.find(f"redcap:{tag}", NS) if gv is not None else None
        if el is not None:
            v = el.text or ""
            out["settings"][key] = int(v) if v.isdigit() and key not in (
                "project_notes", "purpose_other") else v
    out["dags"] = [d.get("group_name", "") for d in root.iter(R + "DataAccessGroups")]
    out["roles"] = [dict(r.attrib) for r in root.iter(R + "UserRoles")]
    out["repeating"] = (
        [{"event_name": _r(r, "UniqueEventName"), "form_name": _r(r, "RepeatInstrument"),
          "custom_form_label": _r(r, "CustomLabel")} for r in root.iter(R + "RepeatingInstrument")]
        + [{"event_name": _r(r, "UniqueEventName"), "form_name": "", "custom_form_label": ""}
           for r in root.iter(R + "RepeatingEvent")])
    out["surveys"] = {s.get("form_name", ""): dict(s.attrib) for s in root.iter(R + "Surveys")}
    out["survey_queue"] = [dict(q.attrib) for q in root.iter(R + "SurveysQueue")]
    out.update(_metadata(mdv))
    out["events"], out["fem"] = _events(study)
    out["clinical"] = root.find("odm:ClinicalData", NS)
    return out


def _metadata(mdv: ET.Element) -> dict[str, Any]:
    items = {i.get("OID", ""): i for i in mdv.findall("odm:ItemDef", NS)}
    groups = {g.get("OID", ""): g for g in mdv.findall("odm:ItemGroupDef", NS)}
    codelists = {c.get("OID", ""): c for c in mdv.findall("odm:CodeList", NS)}
    rows: list[dict[str, str]] = []
    form_labels: dict[str, str] = {}
    seen: set[str] = set()
    for form in mdv.findall("odm:FormDef", NS):
        fname = _r(form, "FormName") or form.get("OID", "").removeprefix("Form.")
        form_labels[fname] = form.get("Name", fname)
        for gref in form.findall("odm:ItemGroupRef", NS):
            group = groups.get(gref.get("ItemGroupOID", ""))
            if group is None:
                continue
            for iref in group.findall("odm:ItemRef", NS):
                item = items.get(iref.get("ItemOID", ""))
                var = iref.get(R + "Variable") or iref.get("ItemOID", "")
                if item is None or var in seen or var.startswith("redcap_") \
                        or var in (f"{fname}_complete", f"{fname}_timestamp"):
                    continue
                seen.add(var)
                rows.append(_field_row(item, var, fname, codelists))
    return {"metadata": rows, "form_labels": form_labels}


def _field_row(item: ET.Element, var: str, form: str,
               codelists: dict[str, ET.Element]) -> dict[str, str]:
    ftype = _r(item, "FieldType", "text")
    choices = ""
    ref = item.find("odm:CodeListRef", NS)
    if ref is not None:
        cl = codelists.get(ref.get("CodeListOID", ""))
        if cl is not None:
            choices = _r(cl, "CheckboxChoices")
            if not choices and ftype not in ("yesno", "truefalse"):
                choices = " | ".join(
                    f"{ci.get('CodedValue', '')}, {_text(ci, 'odm:Decode/odm:TranslatedText')}"
                    for ci in cl.findall("odm:CodeListItem", NS))
    if ftype == "calc":
        choices = _r(item, "Calculation")
    if ftype == "slider":
        choices = _r(item, "SliderLabels")
    vmin = vmax = ""
    for rc in item.findall("odm:RangeCheck", NS):
        value = _text(rc, "odm:CheckValue")
        if rc.get("Comparator") == "GE":
            vmin = value
        elif rc.get("Comparator") == "LE":
            vmax = value
    return {
        "field_name": var, "form_name": form, "section_header": _r(item, "SectionHeader"),
        "field_type": ftype, "field_label": _text(item, "odm:Question/odm:TranslatedText"),
        "select_choices_or_calculations": choices, "field_note": _r(item, "FieldNote"),
        "text_validation_type_or_show_slider_number": _r(item, "TextValidationType"),
        "text_validation_min": vmin, "text_validation_max": vmax,
        "identifier": _r(item, "Identifier"), "branching_logic": _r(item, "BranchingLogic"),
        "required_field": "y" if _r(item, "RequiredField") == "y" else "",
        "custom_alignment": _r(item, "CustomAlignment"),
        "question_number": _r(item, "QuestionNumber"),
        "matrix_group_name": _r(item, "MatrixGroupName"), "matrix_ranking": "",
        "field_annotation": _r(item, "FieldAnnotation"),
    }


def _events(study: ET.Element) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events, fem = [], []
    for se in study.iter(O + "StudyEventDef"):
        unique = _r(se, "UniqueEventName")
        if not unique:
            continue
        arm = int(_r(se, "ArmNum", "1") or 1)
        events.append({"event_name": _r(se, "EventName"), "arm_num": arm,
                       "arm_name": _r(se, "ArmName"), "day_offset": _r(se, "DayOffset", "0"),
                       "offset_min": _r(se, "OffsetMin", "0"),
                       "offset_max": _r(se, "OffsetMax", "0"), "unique_event_name": unique,
                       "custom_event_label": _r(se, "CustomEventLabel")})
        for fr in se.findall("odm:FormRef", NS):
            form = _r(fr, "FormName") or fr.get("FormOID", "").removeprefix("Form.")
            fem.append({"arm_num": arm, "unique_event_name": unique, "form": form})
    return events, fem


def create_from_odm(sb: Sandbox, odm_text: str, settings: dict[str, Any], *,
                    username: str) -> str:
    """Create a project from Project XML; ``settings`` (the API ``data``) win over the XML."""
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
        repeating_forms=(),
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
                    row[oid] = value
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
        load_trusted_rows(Context(sb, Request(), pid, owner[1] if owner else "", "import"), rows)
    for rec, event, instrument, instance, field, name_mime, content in files:
        name, _, mime = name_mime.partition("\x00")
        store_field_file(sb, pid, rec, event, instrument, instance, field, name, mime, content)
