"""The :class:`Sandbox`: one local REDCap API emulator backed by one SQLite file."""

from __future__ import annotations

import csv
import io
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .faults import DroppedConnection, FaultPlan, Faults
from .handler import Response, dispatch, now
from .meta import METADATA_KEYS, UI_TO_KEY, modern_type, modern_validation, unique_name
from .store import Store

log = logging.getLogger(__name__)

DB_NAME = "sandbox.sqlite3"
REDCAP_VERSION = "15.7.6"
DEFAULT_USER = "sandbox_admin"

_RIGHTS = (
    "design", "alerts", "user_rights", "data_access_groups", "reports", "stats_and_charts",
    "manage_survey_participants", "calendar", "data_import_tool", "data_comparison_tool",
    "logging", "email_logging", "file_repository", "data_quality_create", "data_quality_execute",
    "api_export", "api_import", "api_modules", "mobile_app", "mobile_app_download_data",
    "record_create", "record_rename", "record_delete", "lock_records_customization",
    "lock_records", "lock_records_all_forms",
)


def new_token(length: int = 32) -> str:
    """REDCap tokens: upper-case hex, 32 (project) or 64 (super) characters."""
    return secrets.token_hex(length // 2).upper()


def user_record(username: str, forms: Iterable[str], *, full: bool = True,
                email: str = "", firstname: str = "", lastname: str = "") -> dict[str, Any]:
    """A user row in REDCap's ``content=user`` export shape, all flags as ints."""
    u: dict[str, Any] = {
        "username": username, "email": email or f"{username}@example.org",
        "firstname": firstname or username, "lastname": lastname or "", "expiration": "",
        "data_access_group": "", "data_access_group_id": "", "data_access_group_label": "",
    }
    for r in _RIGHTS:
        u[r] = 1 if full else 0
    u["api_export"] = 1 if full else 0
    u["data_export_tool"] = 1 if full else 0
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


class Sandbox:
    """A stateful REDCap API emulator. ``handle`` answers one request in-process."""

    def __init__(self, data_dir: str | Path, *, public_url: str = "http://127.0.0.1/redcap/"):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir / DB_NAME)
        self.public_url = self.store.setting("public_url", public_url)
        self.faults = Faults(FaultPlan.from_json(self.store.setting("faults", "")))
        self.version = REDCAP_VERSION

    # ------------------------------------------------------------------ configuration
    def set_public_url(self, url: str) -> None:
        """The base that survey links start with (``<url>surveys/?s=…``)."""
        self.public_url = url if url.endswith("/") else url + "/"
        self.store.set_setting("public_url", self.public_url)

    def set_faults(self, plan: FaultPlan | None = None, **kwargs: Any) -> FaultPlan:
        """Configure fault injection (persisted); ``set_faults()`` switches it off."""
        plan = plan or FaultPlan(**kwargs)
        self.faults.configure(plan)
        self.store.set_setting("faults", plan.to_json())
        return plan

    def create_super_token(self, username: str = DEFAULT_USER) -> str:
        """A new 64-character super token (may create projects with ``content=project``)."""
        token = new_token(64)
        self.register_super_token(token, username)
        return token

    def register_super_token(self, token: str, username: str = DEFAULT_USER) -> None:
        with self.store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO tokens (token, pid, username) VALUES (?, NULL, ?)",
                         (token, username))

    def create_project(
        self,
        dictionary_csv: str | bytes | Path | None = None,
        *,
        repeating_forms: Sequence[str] = (),
        dags: Sequence[str | tuple[str, str]] = (),
        title: str = "SG-BM-RWS sandbox",
        metadata: list[dict[str, Any]] | None = None,
        arms: Sequence[dict[str, Any]] = (),
        events: Sequence[dict[str, Any]] = (),
        form_event_mapping: Sequence[dict[str, Any]] = (),
        username: str = DEFAULT_USER,
        settings: dict[str, Any] | None = None,
    ) -> str:
        """Create a project from a data dictionary and return its 32-character API token.

        ``dags`` are labels or ``(unique_name, label)`` pairs. Longitudinal projects pass
        ``arms``/``events`` (``{"event_name", "arm_num"}``) and ``form_event_mapping``.
        """
        if metadata is None:
            if dictionary_csv is None:
                raise ValueError("create_project needs a dictionary CSV or metadata rows")
            metadata = read_dictionary_rows(dictionary_csv)
        rows = [normalise_metadata_row(r) for r in metadata]
        config = self.blank_config(title, settings or {})
        config["metadata"] = rows
        forms = list(dict.fromkeys(r["form_name"] for r in rows))
        for d in dags:
            unique, label = (d if isinstance(d, tuple) else (None, d))
            self.add_dag(config, label, unique)
        if events:
            config["is_longitudinal"] = 1
            config["arms"] = [{"arm_num": int(a["arm_num"]), "name": a.get("name", f"Arm {a['arm_num']}")}
                              for a in arms] or [{"arm_num": 1, "name": "Arm 1"}]
            for e in events:
                self.add_event(config, e)
            config["fem"] = [dict(m, arm_num=int(m["arm_num"])) for m in form_event_mapping]
        config["repeating"] = [{"event_name": "", "form_name": f, "custom_form_label": ""}
                               for f in repeating_forms]
        config["users"] = [user_record(username, forms)]
        token = new_token()
        with self.store.write() as conn:
            pid = self.store.insert_project(conn, config)
            config["project_id"] = pid
            self.store.save_config(conn, pid, config)
            conn.execute("INSERT INTO tokens (token, pid, username) VALUES (?, ?, ?)",
                         (token, pid, username))
            conn.execute(
                "INSERT INTO log (pid, ts, username, logtype, action, details, record) "
                "VALUES (?,?,?,?,?,?,?)",
                (pid, now(), username, "manage", "Manage/Design ", "Create project", ""))
        log.info("sandbox project %s created", pid)
        return token

    def add_report(self, token: str, report_id: str, *, fields: Sequence[str] = (),
                   filter_logic: str = "", title: str = "", export_dags: bool = False) -> None:
        """Store a report definition that ``content=report&report_id=…`` runs."""
        owner = self.store.token_owner(token)
        if owner is None or owner[0] is None:
            raise ValueError("unknown project token")
        with self.store.write() as conn:
            _, config = self.store.project_config(owner[0])
            config.setdefault("reports", {})[str(report_id)] = {
                "title": title or f"Report {report_id}", "fields": list(fields),
                "filter_logic": filter_logic, "export_dags": export_dags}
            self.store.save_config(conn, owner[0], config)

    def create_project_from_odm(self, odm: str | bytes | Path, *, title: str | None = None,
                                username: str = DEFAULT_USER) -> str:
        """Create a project from a REDCap Project XML (ODM) and return its token; the same
        path as ``content=project`` with ``odm`` (data included)."""
        from .odm import create_from_odm

        if isinstance(odm, Path):
            odm = odm.read_text(encoding="utf-8")
        elif isinstance(odm, bytes):
            odm = odm.decode("utf-8")
        return create_from_odm(self, odm, {"project_title": title} if title else {},
                               username=username)

    @staticmethod
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
        return config

    @staticmethod
    def add_dag(config: dict[str, Any], label: str, unique: str | None = None) -> dict[str, Any]:
        existing = {d["unique_group_name"] for d in config["dags"]}
        unique = unique or unique_name(label, existing, 18)
        gid = config["next_ids"]["dag"]
        config["next_ids"]["dag"] = gid + 1
        dag = {"data_access_group_name": label, "unique_group_name": unique,
               "data_access_group_id": gid}
        config["dags"].append(dag)
        return dag

    @staticmethod
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

    # ------------------------------------------------------------------ requests
    def handle(self, body: bytes | str, content_type: str = "application/x-www-form-urlencoded",
               *, query: str = "", method: str = "POST") -> tuple[int, dict[str, str], bytes]:
        """Answer one API request: ``(status, headers, body)``.

        Raises :class:`~.faults.DroppedConnection` when fault injection drops the request;
        the HTTP server then closes the socket and the ``responses`` router raises
        ``requests.ConnectionError``.
        """
        if isinstance(body, str):
            body = body.encode("utf-8")
        fail, delay, drop = self.faults.draw()
        if delay:
            time.sleep(delay)
        if drop:
            raise DroppedConnection()
        if fail:
            # a crashed PHP page: HTML, not REDCap's envelope (PyCap's JSON calls then fail
            # with JSONDecodeError, as against a real server)
            resp = Response(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>",
                            "text/html")
        else:
            resp = dispatch(self, body, content_type, query=query, method=method)
        headers = {"Content-Type": _with_charset(resp.content_type)}
        headers.update(resp.headers)
        return resp.status, headers, resp.body


def _with_charset(ctype: str) -> str:
    if "charset" in ctype or not (ctype.startswith("text/") or ctype == "application/json"):
        return ctype
    return f"{ctype}; charset=utf-8"


def _num(v: Any) -> int | float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0
    return int(f) if f.is_integer() else f
