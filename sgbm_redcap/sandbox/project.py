"""A project's stored configuration and how it is built: a blank configuration, its DAGs,
events and users, metadata rows read from a dictionary CSV, and API tokens.

Plain functions on the configuration dict, below the request handling: the
:class:`~.core.Sandbox` uses them to create projects and the design/admin endpoints to change
them.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sgbm_redcap.dictionary.missing import parse_missing_codes

from .meta import METADATA_KEYS, UI_TO_KEY, modern_type, modern_validation, unique_name
from .protocol import now

#: a user's rights in REDCap's ``content=user`` export order (PyCap's export_users doctest,
#: re-recorded against a REDCap server in 2026, and REDCapR's users-export test data)
USER_RIGHTS = (
    "design", "alerts", "user_rights", "data_access_groups", "reports", "stats_and_charts",
    "manage_survey_participants", "calendar", "data_import_tool", "data_comparison_tool",
    "logging", "email_logging", "file_repository", "data_quality_create", "data_quality_execute",
    "api_export", "api_import", "api_modules", "mobile_app", "mobile_app_download_data",
    "record_create", "record_rename", "record_delete", "lock_records_all_forms",
    "lock_records", "lock_records_customization",
)
#: rights a project's creator does not get (the same 2026 doctest: 0 for the creator)
CREATOR_WITHOUT = frozenset({"email_logging", "mobile_app_download_data",
                             "lock_records_customization"})


def new_token(length: int = 32) -> str:
    """REDCap tokens: upper-case hex, 32 (project) or 64 (super) characters."""
    return secrets.token_hex(length // 2).upper()


def user_record(username: str, forms: Iterable[str], *, full: bool = True,
                email: str = "", firstname: str = "", lastname: str = "") -> dict[str, Any]:
    """A user row in REDCap's ``content=user`` export shape, all flags as ints; ``full`` is a
    project creator's rights."""
    u: dict[str, Any] = {
        "username": username, "email": email or f"{username}@example.org",
        "firstname": firstname or username, "lastname": lastname or "", "expiration": "",
        "data_access_group": "", "data_access_group_id": "", "data_access_group_label": "",
    }
    for r in USER_RIGHTS:
        u[r] = 1 if full and r not in CREATOR_WITHOUT else 0
    u["forms"] = {f: (1 if full else 0) for f in forms}
    u["forms_export"] = {f: (1 if full else 0) for f in forms}
    return u


def read_dictionary_rows(source: str | bytes | Path) -> list[dict[str, str]]:
    """A data-dictionary CSV (UI headers or API snake_case headers) as 18-key metadata rows."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and Path(source).exists()):
        text = Path(source).read_text(encoding="utf-8-sig")
    elif isinstance(source, bytes):
        text = source.decode("utf-8-sig")
    else:
        text = str(source).lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    keys = [UI_TO_KEY.get(h.strip(), h.strip()) for h in header]
    if len(keys) >= 18 and keys[0] not in METADATA_KEYS:
        keys = list(METADATA_KEYS) + keys[18:]
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        row = {k: "" for k in METADATA_KEYS}
        for k, v in zip(keys, values, strict=False):
            if k in row:
                row[k] = v
        rows.append(normalise_metadata_row(row))
    return rows


def normalise_metadata_row(row: dict[str, Any]) -> dict[str, str]:
    out = {k: ("" if row.get(k) is None else str(row.get(k))) for k in METADATA_KEYS}
    out["field_type"] = modern_type(out["field_type"])
    if out["field_type"] == "text" or out["field_type"] == "dropdown":
        out["text_validation_type_or_show_slider_number"] = modern_validation(
            out["text_validation_type_or_show_slider_number"])
    out["select_choices_or_calculations"] = " | ".join(
        p.strip() for p in out["select_choices_or_calculations"].replace("\n", "|").split("|")
    ) if out["field_type"] in ("radio", "dropdown", "checkbox") else \
        out["select_choices_or_calculations"]
    return out


def blank_config(title: str, settings: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "project_title": title, "creation_time": now(), "production_time": "",
        "in_production": 0, "project_language": "English", "purpose": 0,
        "purpose_other": "", "project_notes": "", "custom_record_label": "",
        "secondary_unique_field": "", "is_longitudinal": 0, "surveys_enabled": 0,
        "scheduling_enabled": 0, "record_autonumbering_enabled": 0,
        "randomization_enabled": 0, "ddp_enabled": 0, "project_irb_number": "",
        "project_grant_number": "", "project_pi_firstname": "", "project_pi_lastname": "",
        "display_today_now_button": 1, "missing_data_codes": "", "external_modules": "vanderbilt_dataQuality",
        "bypass_branching_erase_field_prompt": 0, "data_resolution_enabled": 2,
        "metadata": [], "arms": [], "events": [], "fem": [], "repeating": [], "dags": [],
        "users": [], "roles": [], "surveys": {}, "reports": {}, "form_labels": {},
        "next_ids": {"event": 40, "dag": 1, "folder": 1, "status": 1, "res": 1},
        "folders": [], "dq": {},
    }
    config.update(settings)
    config["missing_data_codes"] = codes_as_project_info(config["missing_data_codes"])
    return config


def codes_as_project_info(text: Any) -> str:
    """Missing data codes as the API's project info carries them (``"UNK, Unknown | NASK,
    Not asked"``), from either spelling (Project XML writes one code a line)."""
    return parse_missing_codes(str(text or "")).to_project_info()

def add_dag(config: dict[str, Any], label: str, unique: str | None = None) -> dict[str, Any]:
    existing = {d["unique_group_name"] for d in config["dags"]}
    unique = unique or unique_name(label, existing, 18)
    gid = config["next_ids"]["dag"]
    config["next_ids"]["dag"] = gid + 1
    dag = {"data_access_group_name": label, "unique_group_name": unique,
           "data_access_group_id": gid}
    config["dags"].append(dag)
    return dag

def add_event(config: dict[str, Any], e: dict[str, Any]) -> dict[str, Any]:
    arm = int(e.get("arm_num") or 1)
    existing = {x["unique_event_name"] for x in config["events"]}
    unique = e.get("unique_event_name") or unique_name(
        e["event_name"], existing, 18, suffix=f"_arm_{arm}")
    eid = config["next_ids"]["event"]
    config["next_ids"]["event"] = eid + 1
    ev = {"event_name": e["event_name"], "arm_num": arm,
          "day_offset": _num(e.get("day_offset", 0)),
          "offset_min": _num(e.get("offset_min", 0)),
          "offset_max": _num(e.get("offset_max", 0)),
          "unique_event_name": unique, "custom_event_label": e.get("custom_event_label", ""),
          "event_id": eid}
    config["events"].append(ev)
    if not any(a["arm_num"] == arm for a in config["arms"]):
        config["arms"].append({"arm_num": arm, "name": f"Arm {arm}"})
    return ev


def _num(v: Any) -> int | float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0
    return int(f) if f.is_integer() else f
