"""All key risk indicators of a study at a reference date, per site and study-wide, with
monthly series for the trend sparklines. One call: :func:`compute_kris`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from sgbm_redcap.monitoring import imaging, safety
from sgbm_redcap.monitoring.ageing import Ageing, open_at, query_ageing
from sgbm_redcap.monitoring.catalogue import BY_ID, KRIS
from sgbm_redcap.monitoring.entry import EVENT_DATE_FIELDS, entry_lags
from sgbm_redcap.monitoring.frames import form_rows
from sgbm_redcap.monitoring.imaging import scan_intervals
from sgbm_redcap.monitoring.indicator import Value
from sgbm_redcap.monitoring.log import log_changes
from sgbm_redcap.monitoring.query_kris import prepared, query_values
from sgbm_redcap.monitoring.safety import exposure, poisson_p
from sgbm_redcap.monitoring.sites import Sites
from sgbm_redcap.study_codes import DAYS_PER_MONTH, YesNo

#: the study-wide "site"
ALL = "*"
SERIES_MONTHS = 12
NO_LOG = ("needs the project log (export_logging), which this REDCap user may not "
          "export (no Logging rights)")
NO_CHECKS = "needs the check findings, which were not computed for this run"
ENROL_FIELDS = ("eligible",)
#: every field of the raw export the indicators read: a caller without the full export
#: pulls only these (with the DAG and the repeating-instrument columns)
RAW_FIELDS = tuple(dict.fromkeys(("record_id", *ENROL_FIELDS, *imaging.BASE_FIELDS,
                                  *imaging.SCAN_FIELDS, *safety.BASE_FIELDS,
                                  *safety.AE_FIELDS)))


def kri_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """The columns of the flat raw export the indicators read (:data:`RAW_FIELDS` and the
    ``redcap_`` columns): what a caller keeps, or pulls, when it has no other use for the
    rest."""
    return raw[[c for c in raw.columns if c in RAW_FIELDS or c.startswith("redcap_")]]


@dataclass
class KriResult:
    """``values[kri][site]`` (site :data:`ALL`: study-wide), ``series`` (kri, site, month,
    value), ``not_computed`` (kri → why), the query ``ageing`` and the ``funnel`` frames of
    the AE and SAE rates (site, months, observed, expected, rate) with their ``pooled``
    rates."""

    ref: date
    sites: Sites
    values: dict[str, dict[str, Value]]
    series: pd.DataFrame
    not_computed: dict[str, str]
    ageing: Ageing
    funnel: dict[str, pd.DataFrame] = field(default_factory=dict)
    pooled: dict[str, float] = field(default_factory=dict)

    def value(self, kri: str, site: str) -> Value | None:
        return self.values.get(kri, {}).get(site)


def compute_kris(raw: pd.DataFrame, queries: pd.DataFrame, sites: Sites, *, ref: date,
                 log: pd.DataFrame | None = None,
                 findings: pd.DataFrame | None = None) -> KriResult:
    """Every indicator of :data:`~sgbm_redcap.monitoring.catalogue.KRIS` at ``ref``.

    ``raw``: the flat raw export; ``queries``: EXISTING_COLUMNS; ``log``: :func:`log_frame`
    of the project log, or None without Logging rights; ``findings``: the checks' findings
    frame, or None."""
    site_keys = [*sites.order, ALL]
    values: dict[str, dict[str, Value]] = {k.id: {} for k in KRIS}
    not_computed: dict[str, str] = {}
    patients = {s: sites.patients(s) for s in sites.order}
    patients[ALL] = len(sites.of_record)

    def subset(frame: pd.DataFrame, site: str) -> pd.DataFrame:
        return frame if site == ALL else frame[frame["site"] == site]

    q = prepared(queries, sites)
    for site in site_keys:
        for kri, v in query_values(subset(q, site), patients[site], ref=ref).items():
            values[kri][site] = v

    if log is None:
        not_computed["entry_lag"] = NO_LOG
        lags = None
    else:
        lags = entry_lags(log_changes(log, EVENT_DATE_FIELDS), sites, ref=ref)
        for site in site_keys:
            mine = subset(lags, site)
            values["entry_lag"][site] = Value.median(
                mine["lag"], "event dates entered",
                list(dict.fromkeys(mine.sort_values("lag", ascending=False)["record_id"]))[:10])

    scans = scan_intervals(raw, sites, ref=ref)
    for site in site_keys:
        mine = subset(scans, site)
        late = mine[mine["overdue"]].sort_values("days", ascending=False)
        values["missing_scans"][site] = Value.ratio(
            int(mine["overdue"].sum()), len(mine), "overdue", "scan intervals",
            list(dict.fromkeys(late["record_id"]))[:10])

    exp = exposure(raw, sites, ref=ref)
    funnel, pooled = {}, {}
    for kri, events in (("ae_rate", exp.events), ("sae_rate", exp.events[
            exp.events["serious"]])):
        total_months = float(exp.patients["months"].sum())
        rate = len(events) / total_months if total_months else math.nan
        pooled[kri] = rate
        rows = []
        for site in site_keys:
            pts = subset(exp.patients, site)
            months = float(pts["months"].sum())
            observed = len(subset(events, site))
            expected = rate * months if months else math.nan
            p = poisson_p(observed, expected) if site != ALL else math.nan
            per = events.groupby("record_id").size()
            look = pts.assign(n=pts["record_id"].map(per).fillna(0)).sort_values(
                ["n", "months"], ascending=[True, False])
            values[kri][site] = Value(
                observed / months if months else math.nan,
                f"{observed} {'SAEs' if kri == 'sae_rate' else 'AEs'} in {months:.1f} "
                f"patient-months; {expected:.1f} expected at the pooled rate",
                list(look["record_id"])[:10], float(observed), months, p, expected)
            if site != ALL and months:
                rows.append({"site": site, "months": months, "observed": observed,
                             "expected": expected, "rate": observed / months, "p": p})
        funnel[kri] = pd.DataFrame(rows, columns=["site", "months", "observed", "expected",
                                                  "rate", "p"])

    enrol = form_rows(raw, None, list(ENROL_FIELDS))
    enrol["site"] = sites.map(enrol["record_id"])
    for site in site_keys:
        mine = subset(enrol, site)
        failed = mine[mine["eligible"] == YesNo.NO]
        values["screen_failures"][site] = Value.ratio(len(failed), len(mine), "not eligible",
                                                      "screened", list(failed["record_id"]))

    if findings is None:
        not_computed["deviations"] = NO_CHECKS
    else:
        errors = findings[findings["severity"].astype(str) == "error"].copy()
        errors["site"] = sites.map(errors["record_id"])
        for site in site_keys:
            mine = subset(errors, site)
            top = mine["record_id"].astype(str).value_counts()
            values["deviations"][site] = Value.ratio(len(mine), patients[site],
                                                     "error findings", "patients",
                                                     list(top.index[:10]))
    for kri in not_computed:
        values[kri] = {}
    series = monthly_series(q, exp, lags, sites, ref=ref)
    return KriResult(ref, sites, values, series, not_computed,
                     query_ageing(queries, sites, ref=ref), funnel, pooled)


def month_ends(ref: date, months: int = SERIES_MONTHS) -> list[pd.Timestamp]:
    last = pd.Period(ref, freq="M")
    ends = [(last - i).to_timestamp(how="end").normalize() for i in range(months - 1, -1, -1)]
    ends[-1] = min(ends[-1], pd.Timestamp(ref))
    return ends


def monthly_series(q: pd.DataFrame, exp: object, lags: pd.DataFrame | None, sites: Sites, *,
                   ref: date) -> pd.DataFrame:
    """Per month (the last :data:`SERIES_MONTHS` up to ``ref``), per site and study-wide:
    open queries per patient at the month's end, AEs per patient-month in the month, and
    the median entry lag of the values entered in the month."""
    rows: list[dict[str, object]] = []
    keys = [*sites.order, ALL]
    pts = exp.patients  # type: ignore[attr-defined]
    events = exp.events  # type: ignore[attr-defined]
    for end in month_ends(ref):
        start = end.replace(day=1)
        month = end.strftime("%Y-%m")
        waiting = q[open_at(q, end.date())] if len(q) else q
        overlap = ((pts["end"].clip(upper=end) - pts["start"].clip(lower=start)).dt.days + 1
                   ).clip(lower=0) / DAYS_PER_MONTH
        in_month = events[(events["onset"] >= start) & (events["onset"] <= end)]
        entered = lags[(lags["entered"] >= start) & (lags["entered"] <= end)] \
            if lags is not None else None
        for site in keys:
            sel = (lambda f: f) if site == ALL else (lambda f, s=site: f[f["site"] == s])
            n_pat = len(sites.of_record) if site == ALL else sites.patients(site)
            months = float(overlap[pts["site"] == site].sum() if site != ALL else overlap.sum())
            rows.append({"kri": "open_queries", "site": site, "month": month,
                         "value": len(sel(waiting)) / n_pat if n_pat else math.nan})
            rows.append({"kri": "ae_rate", "site": site, "month": month,
                         "value": len(sel(in_month)) / months if months else math.nan})
            if entered is not None:
                lag = sel(entered)["lag"]
                rows.append({"kri": "entry_lag", "site": site, "month": month,
                             "value": float(lag.median()) if len(lag) else math.nan})
    return pd.DataFrame(rows, columns=["kri", "site", "month", "value"])


__all__ = ["ALL", "BY_ID", "RAW_FIELDS", "kri_columns", "KriResult", "compute_kris", "month_ends", "monthly_series"]
