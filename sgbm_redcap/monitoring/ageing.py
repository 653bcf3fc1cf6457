"""Query ageing: how long the queries still waiting for a site's answer have been open.

A query counts as *open at* a reference date (the report's cut-off, or today) when it was
raised on or before that date and, by that date, had been neither answered nor closed; a
query re-opened since (status 4 now) counts as open even when its first answer came before
the date, since the date of the re-opening is not in the instrument. Its age is the
reference date minus ``dq_opened_date`` in days; the buckets are ≤30, 31–60, 61–90 and
>90 days (issue 14). Answered queries awaiting the next sweep are counted apart: they wait
for the data manager, not for the site.

Input: the queries as :data:`sgbm_redcap.queries.reconcile.EXISTING_COLUMNS` (raw strings;
``normalise_existing`` of a flat export, or a backend's ``existing()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from sgbm_redcap.monitoring.sites import Sites
from sgbm_redcap.study_codes import QueryStatus

#: (label, lowest age in days, highest age in days or None)
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("≤30 days", 0, 30), ("31–60 days", 31, 60), ("61–90 days", 61, 90), (">90 days", 91, None))
BUCKET_LABELS = [b[0] for b in BUCKETS]
_WAITING = (QueryStatus.OPEN.value, QueryStatus.REOPENED.value)


def query_dates(queries: pd.DataFrame) -> pd.DataFrame:
    """``queries`` with ``opened``, ``answered`` and ``closed`` as timestamps (NaT blank)."""
    out = queries.copy()
    for src, dst in (("dq_opened_date", "opened"), ("dq_answered_date", "answered"),
                     ("dq_closed_date", "closed")):
        text = out[src].astype(str).str.strip() if src in out.columns else pd.Series(
            "", index=out.index)
        out[dst] = pd.to_datetime(text.where(text != ""), errors="coerce", format="%Y-%m-%d")
    return out


def open_at(queries: pd.DataFrame, ref: date) -> pd.Series:
    """Which queries (with :func:`query_dates` columns) were open at ``ref``."""
    at = pd.Timestamp(ref)
    status = queries["dq_status"].astype(str)
    raised = queries["opened"].notna() & (queries["opened"] <= at)
    closed = queries["closed"].notna() & (queries["closed"] <= at) & (
        status == QueryStatus.CLOSED.value)
    answered = queries["answered"].notna() & (queries["answered"] <= at) & (
        status != QueryStatus.REOPENED.value)
    still_waiting_now = status.isin(_WAITING)
    # a query closed or answered after ``ref`` was waiting at ``ref``
    later = status.isin((QueryStatus.ANSWERED.value, QueryStatus.CLOSED.value))
    return raised & ~closed & ~answered & (still_waiting_now | later)


def age_days(queries: pd.DataFrame, ref: date) -> pd.Series:
    return (pd.Timestamp(ref) - queries["opened"]).dt.days


def bucket_of(days: pd.Series) -> pd.Series:
    """The ageing bucket label of each age in days."""
    out = pd.Series(pd.NA, index=days.index, dtype=object)
    for label, low, high in BUCKETS:
        hit = (days >= low) & ((days <= high) if high is not None else True)
        out[hit] = label
    return out


@dataclass(frozen=True)
class Ageing:
    """Open queries at ``ref`` by site and age bucket (``table``: one row per site of
    ``sites.order``, columns :data:`BUCKET_LABELS` + ``open``, ``answered``, ``patients``,
    ``active``), and the open queries themselves (``listing``, oldest first)."""

    ref: date
    table: pd.DataFrame
    listing: pd.DataFrame
    total: dict[str, int]


def query_ageing(queries: pd.DataFrame, sites: Sites, *, ref: date) -> Ageing:
    """Query ageing by site at ``ref`` (see the module docstring for the definitions)."""
    q = query_dates(queries)
    q["site"] = sites.map(q["record_id"]) if len(q) else pd.Series(dtype=object)
    is_open = open_at(q, ref) if len(q) else pd.Series(dtype=bool)
    listing = q[is_open].copy()
    listing["age_days"] = age_days(listing, ref).astype("Int64")
    listing["bucket"] = bucket_of(listing["age_days"])
    listing = listing.sort_values(["age_days", "record_id"], ascending=[False, True])
    at = pd.Timestamp(ref)
    awaiting = q[(q["dq_status"].astype(str) == QueryStatus.ANSWERED.value)
                 & q["answered"].notna() & (q["answered"] <= at)] if len(q) else q
    rows = []
    for site in sites.order:
        mine = listing[listing["site"] == site]
        counts = mine["bucket"].value_counts()
        rows.append({"site": site, "label": sites.label(site),
                     **{b: int(counts.get(b, 0)) for b in BUCKET_LABELS},
                     "open": len(mine), "answered": int((awaiting["site"] == site).sum()),
                     "patients": sites.patients(site), "active": sites.active(site)})
    table = pd.DataFrame(rows, columns=["site", "label", *BUCKET_LABELS, "open", "answered",
                                        "patients", "active"])
    counts = listing["bucket"].value_counts()
    total = {**{b: int(counts.get(b, 0)) for b in BUCKET_LABELS}, "open": len(listing),
             "answered": len(awaiting)}
    return Ageing(ref, table, listing.reset_index(drop=True), total)
