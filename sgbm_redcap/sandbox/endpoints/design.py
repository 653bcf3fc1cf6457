"""Project design endpoints: metadata, field names, instruments, project info and creation,
version, arms, events, form-event mappings and repeating instruments (REDCAP_API.md §4.6)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.missing import parse_missing_codes
from sgbm_redcap.dictionary.model import checkbox_column
from sgbm_redcap.errors import DictionaryError

from ..handler import Context, Response, endpoint, update_config
from ..meta import CHOICE_TYPES, METADATA_KEYS, UI_HEADERS, unique_name
from ..odm import API_CREATION, create_from_odm
from ..project import add_event, normalise_metadata_row
from ..protocol import MIME, ApiError, Request, csv_text, encode_rows, encode_scalar, parse_data

if TYPE_CHECKING:
    from ..core import Sandbox

PROJECT_KEYS = (
    "project_id", "project_title", "creation_time", "production_time", "in_production",
    "project_language", "purpose", "purpose_other", "project_notes", "custom_record_label",
    "secondary_unique_field", "is_longitudinal", "has_repeating_instruments_or_events",
    "surveys_enabled", "scheduling_enabled", "record_autonumbering_enabled",
    "randomization_enabled", "ddp_enabled", "project_irb_number", "project_grant_number",
    "project_pi_firstname", "project_pi_lastname", "display_today_now_button",
    "missing_data_codes", "external_modules", "bypass_branching_erase_field_prompt",
)
_RESERVED = set(
    "redcap_event_name redcap_csrf_token redcap_survey_timestamp redcap_survey_identifier "
    "redcap_survey_return_code redcap_data_access_group hidden_edit_flag instance "
    "redcap_repeat_instance redcap_repeat_instrument submit new return continue case switch "
    "class enum catch throw document super focus elements action event_id target "
    "field_label".split()
)
_TYPES = {"text", "notes", "radio", "dropdown", "calc", "file", "checkbox", "yesno",
          "truefalse", "descriptive", "slider", "sql"}
_VALIDATIONS = set(
    "date_dmy date_mdy date_ymd datetime_dmy datetime_mdy datetime_ymd datetime_seconds_dmy "
    "datetime_seconds_mdy datetime_seconds_ymd email integer number phone time zipcode "
    "time_hh_mm_ss alpha_only mrn_10d mrn_generic vmrn number_1dp number_2dp number_3dp "
    "number_4dp number_comma_decimal number_1dp_comma_decimal number_2dp_comma_decimal "
    "number_3dp_comma_decimal number_4dp_comma_decimal phone_australia phone_uk phone_france "
    "postalcode_australia postalcode_canada postalcode_germany postalcode_uk postalcode_french "
    "ssn time_mm_ss autocomplete signature".split()
)


def _export(ctx: Context, rows: list[dict[str, Any]], columns: list[str] | None = None,
            root: str = "records") -> Response:
    body, ctype = encode_rows(rows, ctx.req.format, columns, root)
    return Response(200, body, ctype)


def _count(ctx: Context, n: int) -> Response:
    body, ctype = encode_scalar(n, ctx.req.return_format)
    return Response(200, body, ctype)


def _dev_only(ctx: Context) -> None:
    if int(ctx.config.get("in_production", 0)):
        raise ApiError("This method cannot be used while the project is in Production status.")


# ---------------------------------------------------------------- metadata


@endpoint("metadata")
def export_metadata(ctx: Context) -> Response:
    ctx.require("api_export")
    meta = ctx.meta
    fields, forms = ctx.req.listing("fields"), ctx.req.listing("forms")
    rows = meta.config["metadata"]
    if fields or forms:
        rows = [r for r in rows if r["field_name"] in fields or r["form_name"] in forms]
    return _export(ctx, rows, list(METADATA_KEYS))


def validate_metadata(rows: list[dict[str, str]]) -> list[str]:
    """The §5.6 errors this sandbox enforces itself (the dictionary package adds the rest)."""
    errors: list[str] = []
    seen: set[str] = set()
    forms_seen: list[str] = []
    form_names = {r.get("form_name", "") for r in rows}
    for i, r in enumerate(rows, start=2):
        name, form = r.get("field_name", ""), r.get("form_name", "")
        ftype = r.get("field_type", "")
        where = f"(row {i}, field '{name}')"
        if not name:
            errors.append(f"The variable name is blank {where}")
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name.endswith("_") or "___" in name:
            errors.append(f"The variable name '{name}' is not valid: it must start with a "
                          "letter, contain only lower-case letters, numbers and single "
                          f"underscores, and not end with an underscore {where}")
        if len(name) > 100:
            errors.append(f"The variable name '{name}' is longer than 100 characters {where}")
        if name in seen:
            errors.append(f"The variable name '{name}' is duplicated {where}")
        seen.add(name)
        if name in _RESERVED or any(name in (f"{f}_timestamp", f"{f}_return_code",
                                             f"{f}_complete") for f in form_names):
            errors.append(f"The variable name '{name}' is a reserved name {where}")
        if not form:
            errors.append(f"The form name is blank {where}")
        elif forms_seen and forms_seen[-1] != form and form in forms_seen:
            errors.append(f"The form '{form}' is not contiguous: forms must be sequential {where}")
        elif not forms_seen or forms_seen[-1] != form:
            forms_seen.append(form)
        if ftype not in _TYPES:
            errors.append(f"The field type '{ftype}' is not valid {where}")
        val = r.get("text_validation_type_or_show_slider_number", "")
        if val and ftype == "text" and val not in _VALIDATIONS:
            errors.append(f"The validation type '{val}' is not valid {where}")
        if val and ftype not in ("text", "slider", "dropdown", "file"):
            errors.append(f"A validation type is given for a {ftype} field {where}")
        if (r.get("text_validation_min") or r.get("text_validation_max")) and not val \
                and ftype == "text":
            errors.append(f"Min/max values are given without a validation type {where}")
        if ftype in CHOICE_TYPES:
            choices = r.get("select_choices_or_calculations", "")
            codes = [p.split(",")[0].strip() for p in re.split(r"\|", choices) if p.strip()]
            if not codes:
                errors.append(f"The multiple choice field has no choices {where}")
            if len(codes) != len(set(codes)):
                errors.append(f"The multiple choice field has duplicate codes {where}")
            bad = [c for c in codes if not re.fullmatch(r"-?\d+(\.\d+)?|[a-zA-Z0-9._\-]+", c)]
            if bad:
                errors.append(f"Illegal choice codes {', '.join(bad)} {where}")
        if ftype == "calc" and not r.get("select_choices_or_calculations", "").strip():
            errors.append(f"The calculation is empty {where}")
    return errors


def _dictionary_problems(rows: list[dict[str, str]]) -> list[str]:
    """Run the toolkit's dictionary loader (CONTRACTS §1) over the rows."""
    text = csv_text(rows, list(METADATA_KEYS), header=list(UI_HEADERS))
    try:
        load_dictionary(text)
    except DictionaryError as exc:
        return [str(exc)]
    except Exception:  # noqa: BLE001 - a loader crash must not make metadata import fail
        return []
    return []


@endpoint("metadata", "import")
def import_metadata(ctx: Context) -> Response:
    ctx.require("api_import")
    ctx.require("design")
    _dev_only(ctx)
    fmt = ctx.req.format if ctx.req.format != "odm" else "xml"
    rows = [normalise_metadata_row(r) for r in parse_data(ctx.req.get("data"), fmt)]
    if rows:
        rows[0]["section_header"] = ""
        if rows[0]["field_type"] != "text":
            rows[0]["field_type"] = "text"
    errors = validate_metadata(rows) or _dictionary_problems(rows)
    if errors:
        raise ApiError("\n".join(errors))

    def change(config: dict[str, Any]) -> None:
        config["metadata"] = rows
        forms = list(dict.fromkeys(r["form_name"] for r in rows))
        for u in config.get("users", []):
            u["forms"] = {f: u.get("forms", {}).get(f, 1) for f in forms}
            u["forms_export"] = {f: u.get("forms_export", {}).get(f, 1) for f in forms}

    update_config(ctx, change, "Upload data dictionary (API)")
    return _count(ctx, len(rows))


@endpoint("exportFieldNames")
def export_field_names(ctx: Context) -> Response:
    ctx.require("api_export")
    meta = ctx.meta
    only = ctx.req.get("field")
    if only and only not in meta.fields:
        raise ApiError("Invalid field")
    rows = []
    for form in meta.forms:
        for name in meta.form_fields[form]:
            f = meta.fields[name]
            if f.ftype in ("file", "descriptive"):
                continue
            if only and name != only:
                continue
            if f.ftype == "checkbox":
                for code in f.choices:
                    rows.append({"original_field_name": name, "choice_value": code,
                                 "export_field_name": checkbox_column(name, code)})
            else:
                rows.append({"original_field_name": name, "choice_value": "",
                             "export_field_name": name})
        if not only:
            rows.append({"original_field_name": f"{form}_complete", "choice_value": "",
                         "export_field_name": f"{form}_complete"})
    return _export(ctx, rows, ["original_field_name", "choice_value", "export_field_name"])


@endpoint("instrument")
def export_instruments(ctx: Context) -> Response:
    ctx.require("api_export")
    meta = ctx.meta
    rows = [{"instrument_name": f, "instrument_label": meta.form_label(f)} for f in meta.forms]
    return _export(ctx, rows, ["instrument_name", "instrument_label"])


@endpoint("version")
def export_version(ctx: Context) -> Response:
    return Response(200, ctx.sb.version.encode(), "text/html")


@endpoint("project")
def export_project(ctx: Context) -> Response:
    ctx.require("api_export")
    config, meta = ctx.config, ctx.meta
    info: dict[str, Any] = {k: config.get(k, "") for k in PROJECT_KEYS}
    info["project_id"] = ctx.pid
    info["has_repeating_instruments_or_events"] = 1 if meta.has_repeating else 0
    fmt = ctx.req.format
    if fmt == "json":
        return Response(200, json.dumps(info).encode(), MIME["json"])
    if fmt == "csv":
        body, ctype = encode_rows([info], "csv", list(PROJECT_KEYS))
        return Response(200, body, ctype)
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in info.items())
    xml = f'<?xml version="1.0" encoding="UTF-8" ?><item>{inner}</item>'
    return Response(200, xml.encode(), MIME["xml"])


@endpoint("project_settings", "import")  # REDCap's "Import Project Information"
@endpoint("project", "import")
def import_project_settings(ctx: Context) -> Response:
    ctx.require("design")
    rows = parse_data(ctx.req.get("data"), ctx.req.format)
    settable = set(PROJECT_KEYS) - {"project_id", "creation_time", "production_time",
                                    "in_production", "has_repeating_instruments_or_events"}
    changes = {k: v for r in rows for k, v in r.items() if k in settable}

    if "missing_data_codes" in changes:
        codes = parse_missing_codes(str(changes["missing_data_codes"] or ""))
        if codes.problems():
            raise ApiError("; ".join(codes.problems()))
        changes["missing_data_codes"] = codes.to_project_info()

    def change(config: dict[str, Any]) -> None:
        for k, v in changes.items():
            config[k] = v if k == "missing_data_codes" else (int(v) if str(v).isdigit() else v)

    update_config(ctx, change, "Modify project settings (API)")
    return _count(ctx, len(changes))


def create_project(sb: Sandbox, req: Request, token: str) -> Response:
    """``content=project`` with ``data``: needs a 64-character super token (§3, §4.6)."""
    owner = sb.store.token_owner(token) if len(token) == 64 else None
    if owner is None or owner[0] is not None:
        raise ApiError("You do not have permissions to use the API 'Create Project' method. "
                       "You must have been granted a 64-character Super API Token from a REDCap "
                       "administrator in order to utilize this method.", 403)
    fmt = req.format if req.format != "odm" else "xml"
    rows = parse_data(req.get("data"), fmt)
    attrs = rows[0] if rows else {}
    if not attrs.get("project_title") or str(attrs.get("purpose", "")) not in "01234" \
            or attrs.get("purpose", "") == "":
        raise ApiError("One or more components are missing in your input data. The following "
                       "attributes are required: project_title, purpose. Also, 'purpose' must "
                       "have a value of 0, 1, 2, 3, or 4.")
    settings = {k: (int(v) if k in ("purpose", "is_longitudinal", "surveys_enabled",
                                    "record_autonumbering_enabled") and str(v).isdigit() else v)
                for k, v in attrs.items()
                if k in ("project_title", "purpose", "purpose_other", "project_notes",
                         "is_longitudinal", "surveys_enabled", "record_autonumbering_enabled")}
    odm = req.get("odm")
    if odm.strip():
        new = create_from_odm(sb, odm, settings, username=owner[1])
    else:
        new = sb.create_project(metadata=[{
            "field_name": "record_id", "form_name": "my_first_instrument",
            "field_type": "text", "field_label": "Record ID"}],
            title=settings.pop("project_title"), settings=settings, username=owner[1],
            log_details=API_CREATION)
    return Response(200, new.encode(), "text/html")


# ---------------------------------------------------------------- longitudinal design


def _need_longitudinal(ctx: Context, what: str) -> None:
    if not ctx.meta.longitudinal:
        raise ApiError(f"You cannot export {what} for classic projects")


@endpoint("arm")
def export_arms(ctx: Context) -> Response:
    ctx.require("api_export")
    _need_longitudinal(ctx, "arms")
    with_events = {e["arm_num"] for e in ctx.meta.events}
    wanted = {int(a) for a in ctx.req.listing("arms") if a.isdigit()}
    rows = [{"arm_num": a["arm_num"], "name": a["name"]}
            for a in sorted(ctx.config["arms"], key=lambda a: a["arm_num"])
            if a["arm_num"] in with_events and (not wanted or a["arm_num"] in wanted)]
    return _export(ctx, rows, ["arm_num", "name"])


@endpoint("arm", "import")
def import_arms(ctx: Context) -> Response:
    ctx.require("design")
    _dev_only(ctx)
    rows = parse_data(ctx.req.get("data"), ctx.req.format)
    override = ctx.req.get("override") in ("1", "true", "True")

    def change(config: dict[str, Any]) -> None:
        if override:
            config["arms"], config["events"], config["fem"] = [], [], []
        for r in rows:
            num = int(r["arm_num"])
            arm = next((a for a in config["arms"] if a["arm_num"] == num), None)
            if arm:
                arm["name"] = r.get("name", arm["name"])
            else:
                config["arms"].append({"arm_num": num, "name": r.get("name", f"Arm {num}")})
        config["is_longitudinal"] = 1

    update_config(ctx, change, "Import arms (API)")
    return _count(ctx, len(rows))


@endpoint("arm", "delete")
def delete_arms(ctx: Context) -> Response:
    ctx.require("design")
    _dev_only(ctx)
    nums = [int(a) for a in ctx.req.listing("arms") if a.isdigit()]
    known = {a["arm_num"] for a in ctx.config["arms"]}
    bad = [n for n in nums if n not in known]
    if not nums or bad:
        raise ApiError(f"Invalid arm number(s): {', '.join(map(str, bad)) or '(none)'}")
    events = [e["unique_event_name"] for e in ctx.meta.events if e["arm_num"] in nums]

    def change(config: dict[str, Any]) -> None:
        config["arms"] = [a for a in config["arms"] if a["arm_num"] not in nums]
        config["events"] = [e for e in config["events"] if e["arm_num"] not in nums]
        config["fem"] = [m for m in config["fem"] if m["arm_num"] not in nums]

    update_config(ctx, change, "Delete arms (API)")
    _delete_event_data(ctx, events)
    return _count(ctx, len(nums))


def _delete_event_data(ctx: Context, events: list[str]) -> None:
    if not events:
        return
    gone = set(events)
    with ctx.store.write() as conn:
        stored = ctx.store.read_rows(ctx.pid, conn=conn)
        hit = {k[0] for k in stored if k[1] in gone}
        ctx.store.write_rows(conn, ctx.pid, {k: {} if k[1] in gone else v
                                             for k, v in stored.items() if k[0] in hit},
                             whole_records=True)
        conn.execute("DELETE FROM records WHERE pid=? AND record NOT IN "
                     "(SELECT record FROM record_rows WHERE pid=?)", (ctx.pid, ctx.pid))


@endpoint("event")
def export_events(ctx: Context) -> Response:
    ctx.require("api_export")
    _need_longitudinal(ctx, "events")
    wanted = {int(a) for a in ctx.req.listing("arms") if a.isdigit()}
    scheduling = int(ctx.config.get("scheduling_enabled", 0))
    rows = []
    for e in ctx.meta.events:
        if wanted and e["arm_num"] not in wanted:
            continue
        row: dict[str, Any] = {"event_name": e["event_name"], "arm_num": e["arm_num"]}
        if scheduling:
            row.update(day_offset=e["day_offset"], offset_min=e["offset_min"],
                       offset_max=e["offset_max"])
        row.update(unique_event_name=e["unique_event_name"],
                   custom_event_label=e.get("custom_event_label", ""), event_id=e["event_id"])
        rows.append(row)
    return _export(ctx, rows)


@endpoint("event", "import")
def import_events(ctx: Context) -> Response:
    ctx.require("design")
    _dev_only(ctx)
    rows = parse_data(ctx.req.get("data"), ctx.req.format)
    override = ctx.req.get("override") in ("1", "true", "True")
    def change(config: dict[str, Any]) -> None:
        if override:
            config["events"], config["fem"] = [], []
        arms = {a["arm_num"] for a in config["arms"]}
        for r in rows:
            arm = int(r.get("arm_num") or 1)
            if arm not in arms:
                raise ApiError(f"The arm number {arm} does not exist in this project.")
            unique = r.get("unique_event_name", "")
            ev = next((e for e in config["events"] if unique and e["unique_event_name"] == unique),
                      None)
            if ev is not None:
                ev.update({k: v for k, v in r.items() if k in ("event_name", "custom_event_label")})
            else:
                add_event(config, {k: v for k, v in r.items()
                                           if k != "unique_event_name"})
        config["is_longitudinal"] = 1

    update_config(ctx, change, "Import events (API)")
    return _count(ctx, len(rows))


@endpoint("event", "delete")
def delete_events(ctx: Context) -> Response:
    ctx.require("design")
    _dev_only(ctx)
    names = ctx.req.listing("events")
    bad = [n for n in names if ctx.meta.event(n) is None]
    if not names or bad:
        raise ApiError('The following values in the parameter "events" are not valid: '
                       + ", ".join(f"'{b}'" for b in bad))

    def change(config: dict[str, Any]) -> None:
        config["events"] = [e for e in config["events"] if e["unique_event_name"] not in names]
        config["fem"] = [m for m in config["fem"] if m["unique_event_name"] not in names]

    update_config(ctx, change, "Delete events (API)")
    _delete_event_data(ctx, names)
    return _count(ctx, len(names))


@endpoint("formEventMapping")
def export_fem(ctx: Context) -> Response:
    ctx.require("api_export")
    _need_longitudinal(ctx, "form/event mappings")
    wanted = {int(a) for a in ctx.req.listing("arms") if a.isdigit()}
    rows = [{"arm_num": m["arm_num"], "unique_event_name": m["unique_event_name"],
             "form": m["form"]} for m in ctx.config["fem"]
            if not wanted or m["arm_num"] in wanted]
    return _export(ctx, rows, ["arm_num", "unique_event_name", "form"])


@endpoint("formEventMapping", "import")
def import_fem(ctx: Context) -> Response:
    ctx.require("design")
    rows = parse_data(ctx.req.get("data"), ctx.req.format)
    meta = ctx.meta
    clean = []
    for r in rows:
        if not {"arm_num", "unique_event_name", "form"} <= set(r):
            raise ApiError("The data must contain the columns arm_num,unique_event_name,form")
        ev = meta.event(r["unique_event_name"])
        if ev is None or str(ev["arm_num"]) != str(r["arm_num"]).strip():
            raise ApiError(f"Invalid arm/event: {r['arm_num']}/{r['unique_event_name']}")
        if r["form"] not in meta.form_fields:
            raise ApiError(f"Invalid form: {r['form']}")
        clean.append({"arm_num": int(r["arm_num"]), "unique_event_name": r["unique_event_name"],
                      "form": r["form"]})

    def change(config: dict[str, Any]) -> None:
        config["fem"] = clean

    update_config(ctx, change, "Import instrument-event mappings (API)")
    return _count(ctx, len(clean))


@endpoint("repeatingFormsEvents")
def export_repeating(ctx: Context) -> Response:
    ctx.require("api_export")
    meta = ctx.meta
    if not meta.has_repeating:
        raise ApiError("You cannot export repeating instruments and events because the project "
                       "does not contain any repeating instruments and events")
    if meta.longitudinal:
        rows = [{"event_name": r["event_name"], "form_name": r["form_name"],
                 "custom_form_label": r.get("custom_form_label", "")} for r in meta.repeating]
        cols = ["event_name", "form_name", "custom_form_label"]
    else:
        rows = [{"form_name": r["form_name"], "custom_form_label": r.get("custom_form_label", "")}
                for r in meta.repeating]
        cols = ["form_name", "custom_form_label"]
    return _export(ctx, rows, cols)


@endpoint("repeatingFormsEvents", "import")
def import_repeating(ctx: Context) -> Response:
    ctx.require("design")
    rows = parse_data(ctx.req.get("data"), ctx.req.format)
    meta = ctx.meta
    clean = []
    for r in rows:
        form = r.get("form_name", "")
        if form and form not in meta.form_fields:
            raise ApiError(f"The instrument '{form}' does not exist in this project.")
        ev = r.get("event_name", "")
        if meta.longitudinal and meta.event(ev) is None:
            raise ApiError(f"The event '{ev}' does not exist in this project.")
        clean.append({"event_name": ev if meta.longitudinal else "", "form_name": form,
                      "custom_form_label": r.get("custom_form_label", "")})

    def change(config: dict[str, Any]) -> None:
        config["repeating"] = clean

    update_config(ctx, change, "Set up repeating instruments and events (API)")
    return _count(ctx, len(clean))


__all__ = ["create_project", "unique_name"]
