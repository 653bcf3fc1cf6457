"""Audit-trail review (issue 17, ICH E6(R3) §3.16.1): what the project log shows that a
monitor must look at, each a :class:`Finding` with who, when and what.

- a **critical field** (SG start, scan dates, RANO-BM calls, AE grade and seriousness, death)
  changed after a query on it was closed, or after the cut-off of a report already made;
- a value changed **many times** (at least ``MANY_CHANGES`` changes after its first entry);
- a **record deleted**;
- data written by a user whose DAG is not the record's (users with no DAG, the coordinating
  centre, may write anywhere);
- **user-rights and design changes**.

The input is :func:`~sgbm_redcap.monitoring.log.log_frame` of the log; without the Logging
right there is no log and no review (the caller says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd

from sgbm_redcap.monitoring.log import log_changes
from sgbm_redcap.monitoring.sites import Sites
from sgbm_redcap.study_codes import QueryStatus

#: the fields whose change after a review changes an endpoint or a safety signal
CRITICAL_FIELDS = ("sg_start_date", "ia_date", "ea_date", "ia_rano_inv", "ae_grade",
                   "ae_serious", "death_date", "vital_status")
MANY_CHANGES = 3
KINDS = {"after_query": "critical value changed after its query was closed",
         "after_cutoff": "critical value changed after a report's cut-off",
         "many_changes": "value changed many times",
         "deleted": "record deleted",
         "outside_dag": "data entered by a user outside the record's DAG",
         "rights": "user-rights change",
         "design": "design change"}


@dataclass(frozen=True)
class Finding:
    """One audit-trail finding: its ``kind`` (a key of :data:`KINDS`), when, who, which
    record (site), and what in words."""

    kind: str
    when: str
    who: str
    record: str
    site: str
    what: str

    @property
    def title(self) -> str:
        return KINDS[self.kind]


def _when(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if pd.notna(ts) else ""


def _where(field: str, instance: str) -> str:
    return f"{field} (instance {instance})" if instance else field


def audit_review(log: pd.DataFrame, sites: Sites, *,
                 queries: pd.DataFrame | None = None, cutoffs: Iterable[date] = (),
                 user_dags: Mapping[str, str] | None = None,
                 many: int = MANY_CHANGES) -> list[Finding]:
    """Every finding of the log, oldest first within each kind. ``queries``:
    EXISTING_COLUMNS (closed queries on critical fields); ``cutoffs``: the cut-offs of the
    reports already made; ``user_dags``: username → DAG (None: not checked)."""
    changes = log_changes(log)
    changes = changes.assign(key=changes["record"] + "|" + changes["instance"].astype(str)
                             + "|" + changes["field"])
    out: list[Finding] = []
    site = sites.of_record.get
    # a change is a write whose value differs from the previous write of the same value slot
    previous = changes.groupby("key")["value"].shift()
    changed = changes[previous.notna() & (previous != changes["value"])].assign(
        old=previous)
    critical = changed[changed["field"].isin(CRITICAL_FIELDS)]
    if queries is not None and len(queries):
        closed = queries[(queries["dq_status"].astype(str) == QueryStatus.CLOSED.value)
                         & queries["dq_field"].isin(CRITICAL_FIELDS)]
        for q in closed.itertuples(index=False):
            day = pd.to_datetime(q.dq_closed_date, errors="coerce")
            if pd.isna(day):
                continue
            inst = "" if str(q.dq_instance) in ("", "0") else str(q.dq_instance)
            hits = critical[(critical["record"] == str(q.record_id))
                            & (critical["field"] == q.dq_field)
                            & (critical["instance"].astype(str) == inst)
                            & (critical["ts"] >= day + pd.Timedelta(days=1))]
            for c in hits.itertuples(index=False):
                out.append(Finding("after_query", _when(c.ts), c.username, c.record,
                                   site(c.record, ""),
                                   f"{_where(c.field, c.instance)}: '{c.old}' → '{c.value}', "
                                   f"its query {q.dq_id} closed {q.dq_closed_date[:10]}"))
    first = changes.groupby("key")["ts"].transform("min")
    for cutoff in sorted(set(cutoffs)):
        end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
        late = critical[(critical["ts"] >= end) & (first[critical.index] < end)]
        for c in late.itertuples(index=False):
            out.append(Finding("after_cutoff", _when(c.ts), c.username, c.record,
                               site(c.record, ""),
                               f"{_where(c.field, c.instance)}: '{c.old}' → '{c.value}', "
                               f"reported at the cut-off {cutoff}"))
    counts = changed.groupby("key").agg(n=("value", "size"), ts=("ts", "max"),
                                        who=("username", "last"), record=("record", "first"),
                                        field=("field", "first"),
                                        instance=("instance", "first"))
    for c in counts[counts["n"] >= many].itertuples():
        out.append(Finding("many_changes", _when(c.ts), c.who, c.record, site(c.record, ""),
                           f"{_where(c.field, c.instance)} changed {c.n} times, last "
                           f"{_when(c.ts)}"))
    for row in log[log["kind"] == "delete"].itertuples(index=False):
        out.append(Finding("deleted", _when(row.ts), row.username, row.record,
                           site(row.record, ""), row.action))
    if user_dags is not None:
        writes = log[log["kind"].isin(("create", "update")) & (log["record"] != "")]
        for row in writes.itertuples(index=False):
            mine, theirs = user_dags.get(row.username, ""), site(row.record, "")
            if mine and theirs and mine != theirs:
                out.append(Finding("outside_dag", _when(row.ts), row.username, row.record,
                                   theirs, f"{row.action} by a user of DAG {mine}"))
    for kind, name in (("user", "rights"), ("design", "design")):
        for row in log[log["kind"] == kind].itertuples(index=False):
            out.append(Finding(name, _when(row.ts), row.username, row.record, "",
                               f"{row.action.strip()}: {row.details}".strip(": ")))
    return out


def findings_frame(findings: list[Finding]) -> pd.DataFrame:
    """The findings as a table (kind, title, when, who, record, site, what)."""
    return pd.DataFrame([{"kind": f.kind, "title": f.title, "when": f.when, "who": f.who,
                          "record": f.record, "site": f.site, "what": f.what}
                         for f in findings],
                        columns=["kind", "title", "when", "who", "record", "site", "what"])


__all__ = ["CRITICAL_FIELDS", "Finding", "KINDS", "MANY_CHANGES", "audit_review",
           "findings_frame"]
