"""Imaging intervals and the radiotherapy sensitivity analysis (issue 14; DOMAIN §5.3, §3.1).

* **Imaging intervals** (irregular scanning biases iPFS): for each FAS patient, the days
  between consecutive intracranial assessments from the baseline scan on (dated by the
  cut-off), summarised per site in bands of weeks.
* **Brain radiotherapy within 4 weeks before SG**: the patients of the pre-specified
  subgroup "CNS radiation < 4 weeks before SG" of
  :func:`sgbm_redcap.analysis.subgroups.subgroup_membership` (last SRS/FSRT/WBRT/HA-WBRT end,
  else start, less than 28 days before SG start; the one definition). Radiation response
  and pseudo-response cannot be told from an SG effect in them (a published SG series saw
  all CNS responses in patients irradiated < 1 month before SG), so iORR (response-
  evaluable set) and iPFS (FAS) are repeated without them. Patients with radiotherapy whose
  date is unknown stay in (they cannot be classified) and are counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData
from sgbm_redcap.analysis.proportions import Proportion, clopper_pearson
from sgbm_redcap.analysis.subgroups import subgroup_membership
from sgbm_redcap.analysis.survival import KMResult, fit_km

RECENT_RT = "CNS radiation < 4 weeks before SG"
#: interval bands, weeks: (label, lower exclusive, upper inclusive)
INTERVAL_BANDS = (("≤ 6 weeks", -np.inf, 42), ("6–9 weeks", 42, 63), ("9–12 weeks", 63, 84),
                  ("> 12 weeks", 84, np.inf))


def imaging_intervals(results: Any) -> pd.DataFrame:
    """One row per interval: record_id, site (DAG), interval_days, between consecutive
    intracranial assessments of a FAS patient from the baseline scan on."""
    sets = results.sets.set_index("record_id")
    fas = sets.index[sets["fas"].astype(bool)]
    tp = results.intracranial_timepoints
    tp = tp[tp["record_id"].isin(fas)][["record_id", "date"]].dropna()
    base = sets.loc[fas, "baseline_scan_date"].dropna()
    dates = pd.concat([tp, pd.DataFrame({"record_id": base.index, "date": base.to_numpy()})])
    dates["date"] = pd.to_datetime(dates["date"])
    dates = dates.drop_duplicates().sort_values(["record_id", "date"])
    dates = dates[dates["date"] >= pd.to_datetime(dates["record_id"].map(base))]
    gaps = dates.groupby("record_id")["date"].diff().dt.days
    out = pd.DataFrame({"record_id": dates["record_id"], "interval_days": gaps}).dropna()
    out.insert(1, "site", out["record_id"].map(sets["redcap_data_access_group"]))
    return out.reset_index(drop=True)


def interval_summary(intervals: pd.DataFrame) -> pd.DataFrame:
    """Per site (and "all"): patients, intervals, median and IQR days, n per band."""
    rows = []
    groups = [(site, part) for site, part in intervals.groupby("site", sort=True)]
    for site, part in [*groups, (None, intervals)]:
        days = part["interval_days"]
        row = {"site": site, "patients": int(part["record_id"].nunique()),
               "intervals": int(len(part)),
               "median": float(days.median()) if len(days) else np.nan,
               "q1": float(days.quantile(0.25)) if len(days) else np.nan,
               "q3": float(days.quantile(0.75)) if len(days) else np.nan}
        for label, low, high in INTERVAL_BANDS:
            row[label] = int(((days > low) & (days <= high)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def recent_radiotherapy(study: StudyData, membership: pd.DataFrame | None = None
                        ) -> pd.Series:
    """record_id → "Yes" / "No" / None (radiotherapy with no usable date); ``membership``:
    :func:`subgroup_membership` of ``study`` when already computed."""
    members = subgroup_membership(study) if membership is None else membership
    recent = members.set_index("record_id")[RECENT_RT]
    return recent.where(recent.notna(), None)


def rt_sensitivity(study: StudyData, results: Any, membership: pd.DataFrame | None = None
                   ) -> pd.DataFrame:
    """Rows: all patients (primary), excluding brain radiotherapy < 4 weeks before SG, and
    those patients alone; columns: the iORR Proportion over the response-evaluable set and
    the iPFS KM over the FAS (None when nobody is left), with the patient counts."""
    recent = recent_radiotherapy(study, membership)
    ires = results.sets.loc[results.sets["ires"], "record_id"]
    fas = results.sets.loc[results.sets["fas"], "record_id"]
    bor = results.bor_intracranial.set_index("record_id")["confirmed"]
    ep = results.endpoints
    ipfs = ep[ep["endpoint"] == "ipfs"].set_index("record_id")
    rows = []
    for label, keep in (("All patients (primary analysis)", lambda i: True),
                        ("Excluding brain radiotherapy < 4 weeks before SG",
                         lambda i: recent.get(i) != "Yes"),
                        ("Brain radiotherapy < 4 weeks before SG only",
                         lambda i: recent.get(i) == "Yes")):
        r_ids = [i for i in ires if keep(i)]
        f_ids = [i for i in fas if keep(i) and i in ipfs.index]
        prop: Proportion = clopper_pearson(int(bor.reindex(r_ids).isin(("CR", "PR")).sum()),
                                           len(r_ids))
        km: KMResult | None = (fit_km(ipfs.loc[f_ids, "months"], ipfs.loc[f_ids, "event"])
                               if f_ids else None)
        rows.append({"analysis": label, "n_ires": len(r_ids), "iorr": prop,
                     "n_fas": len(f_ids), "ipfs": km})
    unknown = int(pd.Series([recent.get(i) for i in fas]).isna().sum())
    out = pd.DataFrame(rows)
    out.attrs["unknown_timing"] = unknown
    return out
