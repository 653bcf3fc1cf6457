"""The REDCap-compatible Data Quality job: what REDCap's Data Quality page would count, over
the project's every event, arm and repeating instance (``checks.redcap_dq``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sgbm_redcap.checks.redcap_dq import (
    CustomRule,
    DqProject,
    DqResult,
    DqScope,
    Exclusion,
    read_exclusions_csv,
    read_rules_csv,
    rules_from_project_xml,
    run_redcap_dq,
    summary_text,
)
from sgbm_redcap.dictionary.missing import parse_missing_codes
from sgbm_redcap.errors import ConfigError, DictionaryError, RedcapApiError
from sgbm_redcap.jobs.guards import writable_file
from sgbm_redcap.jobs.study import Study
from sgbm_redcap.source.client import RedcapClient
from sgbm_redcap.source.metadata import dictionary_from_text, metadata_rows_to_csv

NEEDS_REDCAP = ("checks redcap-dq reads the project's events, form designations and missing "
                "data codes from REDCap: use --url (or the configured REDCap) or --sandbox, "
                "not --records")


def dq_project(client: RedcapClient, custom_rules: Iterable[CustomRule] = ()) -> DqProject:
    """What a Data Quality run needs, read through the API: metadata, every record row (raw,
    with DAGs), the form-event mapping, repeating instruments and events, and the project's
    missing data codes. REDCap's API has no Data Quality rules: ``custom_rules`` come from a
    file (:func:`custom_rules_file`)."""
    metadata = client.export_metadata()
    dictionary = dictionary_from_text(metadata_rows_to_csv(metadata),
                                      source=f"{client.url} metadata")
    text = client.export_records_csv()
    records = (pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                           na_filter=False) if text.strip() else pd.DataFrame())
    form_events: dict[str, list[str]] = {}
    for m in client.export_event_mapping():
        form_events.setdefault(str(m.get("unique_event_name", "")), []).append(
            str(m.get("form", "")))
    repeating = client.export_repeating()
    info = client.post("export_project_info", {"content": "project"}, idempotent=True)
    codes = info.get("missing_data_codes", "") if isinstance(info, dict) else ""
    return DqProject(
        dictionary, records, form_events=form_events,
        repeating=frozenset((str(r.get("event_name", "")), str(r["form_name"]))
                            for r in repeating if r.get("form_name")),
        repeating_events=frozenset(str(r.get("event_name", "")) for r in repeating
                                   if not r.get("form_name")),
        missing_codes=parse_missing_codes(str(codes or "")),
        custom_rules=list(custom_rules))


def custom_rules_file(path: str | Path) -> list[CustomRule]:
    """Custom rules from REDCap's Data Quality rules CSV (``rule_name``, ``rule_logic``,
    ``real_time_execute``) or from a Project XML (its ``DataQualityRules``)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("<"):
        from sgbm_redcap.dictionary.odm import read_project_xml

        try:
            return rules_from_project_xml(read_project_xml(text, source=str(p))
                                          .data_quality_rules)
        except DictionaryError as exc:
            raise ConfigError(f"--rules-file {p}: {exc}", setting="rules_file") from None
    try:
        return read_rules_csv(text)
    except ValueError as exc:
        raise ConfigError(f"--rules-file {p}: {exc}", setting="rules_file") from None


def exclusions_file(path: str | Path) -> list[Exclusion]:
    p = Path(path)
    try:
        return read_exclusions_csv(p.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise ConfigError(f"--exclusions {p}: {exc}", setting="exclusions") from None


def user_scope(client: RedcapClient, username: str) -> DqScope:
    """The view of ``username`` (a user of the project): their DAG and the instruments their
    rights let them view (REDCap's ``forms`` rights, 0 = no access)."""
    users = client.post("export_users", {"content": "user"}, idempotent=True)
    users = users if isinstance(users, list) else []
    me = next((u for u in users if str(u.get("username", "")).lower() == username.lower()),
              None)
    if me is None:
        known = ", ".join(sorted(str(u.get("username", "")) for u in users)) or "none"
        raise ConfigError(f"--user {username}: not a user of this project (users: {known})",
                          setting="user")
    forms = me.get("forms")
    if isinstance(forms, str):  # "form:1,form_2:0" (the CSV export's spelling)
        forms = dict(part.split(":", 1) for part in forms.split(",") if ":" in part)
    viewable = None
    if isinstance(forms, dict):
        viewable = frozenset(str(f).strip() for f, level in forms.items()
                             if str(level).strip() not in ("0", ""))
    dag = str(me.get("data_access_group") or "")
    if not dag:
        try:
            mapping = client.post("export_user_dag_mapping", {"content": "userDagMapping"},
                                  idempotent=True)
        except RedcapApiError:
            mapping = []
        for m in mapping if isinstance(mapping, list) else []:
            if str(m.get("username", "")).lower() == username.lower():
                dag = str(m.get("redcap_data_access_group") or "")
    return DqScope(user=str(me.get("username", username)), dag=dag, forms=viewable)


def redcap_dq(study: Study, *, rules: Iterable[str] | None = None,
              rules_file: str | Path | None = None,
              exclusions: str | Path | None = None, user: str | None = None,
              out_csv: str | Path | None = None, out_json: str | Path | None = None,
              today: date | None = None) -> DqResult:
    """REDCap's Data Quality rules A–I and the custom rules of ``rules_file`` over the
    study's REDCap project (every event, arm and instance); ``rules`` selects some (letters,
    custom rule numbers, ``custom``); ``user`` runs with that user's DAG and rights;
    ``exclusions`` (CSV) are listed but not counted. ``out_csv``/``out_json`` get the
    discrepancies. Nothing is written to REDCap."""
    for path, option in ((out_csv, "--csv"), (out_json, "--json")):
        if path is not None:
            writable_file(path, option=option)
    custom = custom_rules_file(rules_file) if rules_file is not None else []
    excluded = exclusions_file(exclusions) if exclusions is not None else []
    with study.connect() as conn:
        client = getattr(conn.source, "client", None)
        if not isinstance(client, RedcapClient):
            raise ConfigError(NEEDS_REDCAP, setting="records")
        project = dq_project(client, custom)
        scope = user_scope(client, user) if user else DqScope()
    try:
        result = run_redcap_dq(project, rules=list(rules) if rules else None, scope=scope,
                               exclusions=excluded, today=today)
    except ValueError as exc:
        raise ConfigError(f"--rule: {exc}", setting="rule") from None
    if out_csv is not None:
        result.discrepancies.to_csv(out_csv, index=False)
    if out_json is not None:
        Path(out_json).write_text(json.dumps(_as_json(result), indent=1, ensure_ascii=False)
                                  + "\n", encoding="utf-8")
    return result


def _as_json(result: DqResult) -> dict[str, Any]:
    summary = result.summary.astype(object).where(result.summary.notna(), None)
    return {"generated": datetime.now().isoformat(timespec="seconds"),
            "rules": summary.to_dict("records"),
            "discrepancies": result.discrepancies.to_dict("records")}


def dq_summary_text(result: DqResult) -> str:
    """REDCap's table as text (rule, name, total discrepancies)."""
    return summary_text(result)
