"""Reconcile the findings of a sweep with the data queries already in REDCap.

Pure functions over DataFrames, so the whole query lifecycle is testable without a server:

========================  =================  =========================================
finding now               query in REDCap    action
========================  =================  =========================================
present                   none               open (status 1)
present                   open / reopened    nothing
present                   answered           reopen (4) with a note
present                   closed             reopen (4): the problem came back
gone                      open / answered /  close (3) with a note
                          reopened
gone                      closed / none      nothing
========================  =================  =========================================

Queries of rules that did not run (or crashed) are never closed, and rows whose ``dq_id`` is
not one of ours (a query typed in by hand) are left alone. When the same id sits on two
instances (it should not happen, but a site can copy an instance), the lowest instance is the
query and the others are closed as duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from sgbm_redcap.checks.findings import query_ids
from sgbm_redcap.study_codes import QuerySeverity, QueryStatus

#: dq_status codes, as the plain strings the sweep writes
OPEN, ANSWERED, CLOSED, REOPENED = (QueryStatus.OPEN.value, QueryStatus.ANSWERED.value,
                                    QueryStatus.CLOSED.value, QueryStatus.REOPENED.value)
STATUS_WORDS = {OPEN: "open", ANSWERED: "answered", CLOSED: "closed", REOPENED: "reopened"}
#: a finding's severity → its dq_severity code
SEVERITY_CODES = {"error": QuerySeverity.ERROR.value, "warning": QuerySeverity.WARNING.value}
INSTRUMENT = "data_queries"
#: Columns of a normalised "existing queries" frame.
EXISTING_COLUMNS = ["record_id", "instance", "dq_id", "dq_rule", "dq_status", "dq_message",
                    "dq_site_response", "dq_severity", "dq_form", "dq_instance", "dq_field",
                    "dq_opened_date", "dq_answered_date", "dq_closed_date", "dq_note"]
ACTION_COLUMNS = ["action", "query_id", "record_id", "instance", "rule_id", "why", "row"]

NOTE_CLOSED = "Closed by the sweep on {today}: the problem is no longer found in the data."
#: Notes never repeat the query's message (it is in dq_message, next to the note).
NOTE_REOPENED = ("Reopened by the sweep on {today}: the data still show the problem after "
                 "the site's answer.")
NOTE_RECURRED = "Reopened by the sweep on {today}: the problem is found again."
NOTE_DUPLICATE = "Closed by the sweep on {today}: duplicate of instance {canonical}."


@dataclass
class Plan:
    """What a sweep would post: one row per action (open / close / reopen)."""

    actions: pd.DataFrame
    unchanged: int = 0
    duplicates: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = self.actions["action"].value_counts().to_dict() if len(self.actions) else {}
        return {k: int(c.get(k, 0)) for k in ("open", "close", "reopen")}

    def rows(self) -> list[dict[str, str]]:
        return list(self.actions["row"]) if len(self.actions) else []

    def __len__(self) -> int:
        return len(self.actions)


def normalise_existing(raw: pd.DataFrame, record_id: str = "record_id") -> pd.DataFrame:
    """The ``data_queries`` instances of a flat export (raw strings) as EXISTING_COLUMNS."""
    if raw is None or not len(raw) or "redcap_repeat_instrument" not in raw.columns:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EXISTING_COLUMNS})
    rows = raw.loc[raw["redcap_repeat_instrument"].fillna("") == INSTRUMENT]
    out = pd.DataFrame({"record_id": rows[record_id].astype(str)})
    out["instance"] = pd.to_numeric(rows["redcap_repeat_instance"], errors="coerce"
                                    ).fillna(0).astype(int)
    for c in EXISTING_COLUMNS[2:]:
        out[c] = rows[c].fillna("").astype(str).str.strip() if c in rows.columns else ""
    return out.reset_index(drop=True)


def _ours(existing: pd.DataFrame, rules: set[str] | None) -> pd.Series:
    parts = existing["dq_id"].str.split(":")
    rule = parts.str[0].fillna("")
    well_formed = parts.str.len() == 5
    mine = well_formed & (existing["dq_id"].str.split(":").str[1] == existing["record_id"])
    if rules is not None:
        mine &= rule.isin(rules)
    return mine


def reconcile(
    findings: pd.DataFrame,
    existing: pd.DataFrame,
    *,
    today: date | str,
    rules_run: Iterable[str] | None = None,
) -> Plan:
    """The actions that bring REDCap's queries in line with ``findings``.

    ``rules_run`` are the rules whose findings are complete (default: every rule seen in
    ``findings`` or ``existing``); a query of any other rule is never closed.
    """
    today_s = str(pd.Timestamp(today).date())
    f = findings.copy()
    f["query_id"] = query_ids(f) if len(f) else pd.Series(dtype=object)
    f = f.drop_duplicates("query_id")
    # every instance in use counts when numbering new ones, ours or not (a site may have
    # typed a query by hand; it must never be overwritten)
    top = existing.groupby(existing["record_id"].astype(str))["instance"].max().to_dict() \
        if len(existing) else {}
    ex = existing.copy()
    ex = ex.loc[ex["dq_id"] != ""]
    rules = set(rules_run) if rules_run is not None else None
    closable = _ours(ex, rules) if len(ex) else pd.Series(dtype=bool)

    ex = ex.sort_values(["dq_id", "instance"])
    dup_mask = ex.duplicated("dq_id", keep="first")
    canonical = ex.loc[~dup_mask].set_index("dq_id")
    actions: list[dict] = []
    duplicates: list[str] = []

    # duplicates: close every later copy that is not closed yet
    for _, d in ex.loc[dup_mask].iterrows():
        duplicates.append(d["dq_id"])
        if d["dq_status"] != CLOSED:
            first = int(canonical.loc[d["dq_id"], "instance"])
            actions.append(_action("close", d["dq_id"], d["record_id"], d["instance"],
                                   "duplicate", _close_row(d, today_s, NOTE_DUPLICATE.format(
                                       today=today_s, canonical=first))))

    found = f.set_index("query_id")
    unchanged = 0
    # findings that have a query already
    known = found.index.intersection(canonical.index)
    for qid in known:
        q = canonical.loc[qid]
        if q["dq_status"] == ANSWERED:
            note = NOTE_REOPENED.format(today=today_s)
            actions.append(_action("reopen", qid, q["record_id"], q["instance"], "answered but "
                                   "the finding persists", _status_row(q, REOPENED, note)))
        elif q["dq_status"] == CLOSED:
            note = NOTE_RECURRED.format(today=today_s)
            actions.append(_action("reopen", qid, q["record_id"], q["instance"],
                                   "closed but the finding is back",
                                   _status_row(q, REOPENED, note)))
        else:
            unchanged += 1
    # queries whose finding is gone
    closable_ids = set(ex.loc[closable.reindex(ex.index, fill_value=False), "dq_id"]) \
        if len(ex) else set()
    for qid in canonical.index.difference(found.index):
        q = canonical.loc[qid]
        if qid in closable_ids and q["dq_status"] in (OPEN, ANSWERED, REOPENED):
            actions.append(_action("close", qid, q["record_id"], q["instance"], "finding gone",
                                   _close_row(q, today_s, NOTE_CLOSED.format(today=today_s))))
    # new findings: next free instances per record, in query-id order (deterministic)
    new = found.loc[found.index.difference(canonical.index)].sort_index()
    for qid, fi in new.iterrows():
        rid = str(fi["record_id"])
        top[rid] = int(top.get(rid, 0)) + 1
        actions.append(_action("open", qid, rid, top[rid], "new finding",
                               _open_row(qid, fi, top[rid], today_s)))
    frame = pd.DataFrame(actions, columns=ACTION_COLUMNS)
    return Plan(frame, unchanged=unchanged, duplicates=sorted(set(duplicates)))


def _action(action: str, qid: str, rid: str, instance: int, why: str, row: dict) -> dict:
    rule = qid.split(":", 1)[0]
    return {"action": action, "query_id": qid, "record_id": str(rid), "instance": int(instance),
            "rule_id": rule, "why": why, "row": row}


def _key(rid: str, instance: int) -> dict[str, str]:
    return {"record_id": str(rid), "redcap_repeat_instrument": INSTRUMENT,
            "redcap_repeat_instance": str(int(instance))}


def _open_row(qid: str, fi: pd.Series, instance: int, today: str) -> dict[str, str]:
    inst = int(fi["instance"]) if str(fi["instance"]) not in ("", "nan") else 0
    return {**_key(fi["record_id"], instance), "dq_id": qid, "dq_rule": str(fi["rule_id"]),
            "dq_severity": SEVERITY_CODES.get(str(fi["severity"]), SEVERITY_CODES["warning"]),
            "dq_form": str(fi["form"]), "dq_instance": str(inst), "dq_field": str(fi["field"]),
            "dq_message": str(fi["message"]), "dq_status": OPEN, "dq_opened_date": today}


def _status_row(q: pd.Series, status: str, note: str) -> dict[str, str]:
    return {**_key(q["record_id"], q["instance"]), "dq_status": status, "dq_note": note}


def _close_row(q: pd.Series, today: str, note: str) -> dict[str, str]:
    return {**_status_row(q, CLOSED, note), "dq_closed_date": today}


def apply_plan(existing: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """``existing`` as it will be once ``plan`` is posted (for listings, dry runs, tests).
    Like an import with overwriteBehavior=normal: the plan's values replace, nothing else
    is blanked."""
    if not len(plan):
        return existing.copy()
    rows = pd.DataFrame(plan.rows())  # a key an action does not send stays NaN: kept as is
    rows["instance"] = pd.to_numeric(rows["redcap_repeat_instance"]).astype(int)
    rows["record_id"] = rows["record_id"].astype(str)
    cols = [c for c in existing.columns if c in rows.columns and c not in
            ("record_id", "instance")]
    # later actions on the same instance win (as successive imports would)
    updates = rows.drop_duplicates(["record_id", "instance"], keep="last").set_index(
        ["record_id", "instance"])[cols]
    current = existing.copy()
    current["record_id"] = current["record_id"].astype(str)
    current["instance"] = current["instance"].astype(int)
    merged = updates.combine_first(current.set_index(["record_id", "instance"]))
    merged = merged.reset_index()[list(existing.columns)]
    return merged.fillna("").reset_index(drop=True)
