"""Indicators of the data queries per site: open queries per patient, share of open queries
older than 30 days, median days raised → answered and raised → closed, re-opened rate."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sgbm_redcap.monitoring.ageing import age_days, open_at, query_dates
from sgbm_redcap.monitoring.indicator import Value
from sgbm_redcap.monitoring.sites import Sites
from sgbm_redcap.study_codes import QueryStatus

REOPEN_WORD = "reopened"


def prepared(queries: pd.DataFrame, sites: Sites) -> pd.DataFrame:
    q = query_dates(queries)
    q["site"] = sites.map(q["record_id"]) if len(q) else pd.Series(dtype=object)
    status = q["dq_status"].astype(str) if len(q) else pd.Series(dtype=object)
    note = q["dq_note"].astype(str).str.lower() if "dq_note" in q.columns else ""
    q["reopened"] = (status == QueryStatus.REOPENED.value) | (
        pd.Series(note, index=q.index).astype(str).str.startswith(REOPEN_WORD))
    return q


def _records(frame: pd.DataFrame, order: str | None = None, n: int = 10) -> list[str]:
    if order is not None:
        frame = frame.sort_values(order, ascending=False)
    return list(dict.fromkeys(frame["record_id"].astype(str)))[:n]


def query_values(q: pd.DataFrame, patients: int, *, ref: date) -> dict[str, Value]:
    """The query indicators of one site's (or all sites') prepared queries ``q``."""
    at = pd.Timestamp(ref)
    q = q[q["opened"].notna() & (q["opened"] <= at)]
    waiting = q[open_at(q, ref)].assign(age=lambda f: age_days(f, ref))
    old = waiting[waiting["age"] > 30]
    answered = q[q["answered"].notna() & (q["answered"] <= at)]
    to_answer = (answered["answered"] - answered["opened"]).dt.days
    closed = q[q["closed"].notna() & (q["closed"] <= at)]
    to_close = (closed["closed"] - closed["opened"]).dt.days
    slow = answered.assign(days=to_answer)
    return {
        "open_queries": Value.ratio(len(waiting), patients, "open queries", "patients",
                                    _records(waiting, "age")),
        "old_queries": Value.ratio(len(old), len(waiting), "open > 30 days", "open queries",
                                   _records(old, "age")),
        "days_to_answer": Value.median(to_answer, "answered queries",
                                       _records(slow, "days")),
        "days_to_close": Value.median(to_close, "closed queries",
                                      _records(closed.assign(days=to_close), "days")),
        "reopened": Value.ratio(int(q["reopened"].sum()), len(q), "re-opened", "raised",
                                _records(q[q["reopened"]])),
    }
