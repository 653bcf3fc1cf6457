"""Further efficacy and treatment outcomes of the monthly report (DOMAIN §6.2 items 5–6):

* **pattern of first progression**: the CRF's ``first_pd_pattern`` for the FAS patients with
  a progression dated by the cut-off (``ipd_date`` or ``epd_date``); the others have not
  progressed (as far as the cut-off knows), and a blank pattern is "not recorded";
* **time to intracranial response** among the confirmed responders of the response-evaluable
  set: SG start to the first CR/PR assessment (the iDoR start of
  :func:`sgbm_redcap.analysis.endpoints.response_dates`), months;
* **OS by subgroup**: the iPFS subgroup machinery of
  :func:`sgbm_redcap.analysis.subgroups.subgroup_estimates` run on OS (same levels, same
  suppression of small levels, Cox HR of the second level against the first);
* **time on treatment** (Kaplan–Meier, safety set): first dose to the last dose for patients
  who stopped SG (event), first dose to the cut-off for those still on it (censored);
* **dose intensity by cycle** (safety set): per cycle number, the patients who started it,
  the delivered dose (mg/kg, from the dose levels of the doses given) against the planned
  20 mg/kg, and the patients with a dose delayed, omitted or below their starting level.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sgbm_redcap.analysis.endpoints import response_dates
from sgbm_redcap.analysis.exposure import MG_PER_KG
from sgbm_redcap.analysis.inputs import StudyData
from sgbm_redcap.analysis.sets import GIVEN
from sgbm_redcap.analysis.subgroups import subgroup_estimates, subgroup_membership
from sgbm_redcap.analysis.survival import KMResult, fit_km
from sgbm_redcap.study_codes import DAYS_PER_MONTH, AdmStatus

#: planned SG per 21-day cycle: 10 mg/kg on days 1 and 8
PLANNED_MG_PER_KG_PER_CYCLE = 20.0
NOT_RECORDED = "Pattern not recorded"


def first_progression_pattern(study: StudyData, fas: list[str]) -> pd.DataFrame:
    """Patients of the FAS by pattern of first progression: one row per level (the CRF's
    labels in dictionary order, then not recorded, then no progression), ``n``."""
    fu = study.one_per_record("follow_up").set_index("record_id").reindex(fas)
    progressed = fu["ipd_date"].notna() | fu["epd_date"].notna()
    labels = study.labels.get("first_pd_pattern", {})
    pattern = fu.loc[progressed, "first_pd_pattern"].map(lambda c: labels.get(c, c))
    rows = [{"pattern": label, "n": int((pattern == label).sum()), "progressed": True}
            for label in labels.values()]
    rows.append({"pattern": NOT_RECORDED, "n": int(pattern.isna().sum()), "progressed": True})
    rows.append({"pattern": "No progression by the cut-off", "n": int((~progressed).sum()),
                 "progressed": False})
    return pd.DataFrame(rows)


def time_to_response(results: Any) -> pd.DataFrame:
    """record_id, response_date, months from SG start, for the confirmed intracranial
    responders of the response-evaluable set."""
    ires = set(results.sets.loc[results.sets["ires"], "record_id"])
    bor = results.bor_intracranial
    bor = bor[bor["record_id"].isin(ires)].rename(columns={"record_id": "subject",
                                                          "confirmed": "response"})
    source = results.options.endpoint_rules.response_source
    first = response_dates(results.intracranial_timepoints, bor, source)
    start = results.sets.set_index("record_id")["sg_start_date"]
    days = (pd.to_datetime(first["response_date"])
            - pd.to_datetime(first["record_id"].map(start))).dt.days + 1
    return first.assign(months=days / DAYS_PER_MONTH).reset_index(drop=True)


#: the subgroups OS is shown by: the study's main stratifier and BM activity (each Cox fit
#: costs; the iPFS table has them all)
OS_SUBGROUPS = ("Subtype", "BM activity")


def os_by_subgroup(study: StudyData, results: Any, membership: pd.DataFrame | None = None,
                   subgroups: tuple[str, ...] = OS_SUBGROUPS) -> pd.DataFrame:
    """Median OS (FAS) per level of each of ``subgroups``, with the Cox HR of two-level
    subgroups: the columns of ``subgroup_estimates`` with ``ipfs_`` read ``os_``.
    ``membership``: :func:`subgroup_membership` of ``study`` when already computed."""
    fas = results.sets.loc[results.sets["fas"], "record_id"].tolist()
    ep = results.endpoints
    os_ = ep[(ep["endpoint"] == "os") & ep["record_id"].isin(fas)]
    o = results.options
    members = subgroup_membership(study) if membership is None else membership
    est = subgroup_estimates(members[["record_id", *subgroups]],
                             pd.DataFrame({"record_id": [], "response": []}), [],
                             os_[["record_id", "months", "event"]], fas,
                             min_patients=o.min_patients, min_events=o.min_events,
                             suppress=o.suppress_small_subgroups)
    est = est.drop(columns=["n_ires", "responders", "iorr", "iorr_lower", "iorr_upper"])
    est["flag"] = est["flag"].str.replace("iORR: [^;]*(; )?", "", regex=True).str.replace(
        "iPFS:", "OS:")
    return est.rename(columns=lambda c: c.replace("ipfs_", "os_"))


def time_on_treatment(exposure: pd.DataFrame, cutoff: pd.Timestamp | None
                      ) -> tuple[pd.DataFrame, KMResult | None]:
    """Per patient of ``exposure`` (the safety set): months on SG and whether SG stopped;
    and the Kaplan–Meier fit (None when nobody is treated)."""
    ex = exposure.dropna(subset=["first_dose"])
    if ex.empty:
        return pd.DataFrame({"record_id": [], "months": [], "event": []}), None
    stopped = ex["discontinued"].astype(bool)
    end = ex["last_dose"].where(stopped, cutoff if cutoff is not None else ex["last_dose"])
    days = (pd.to_datetime(end) - ex["first_dose"]).dt.days + 1
    frame = pd.DataFrame({"record_id": ex["record_id"], "months": days / DAYS_PER_MONTH,
                          "event": stopped.astype(int)}).reset_index(drop=True)
    if frame.empty:
        return frame, None
    return frame, fit_km(frame["months"], frame["event"], label="time on treatment")


def dose_intensity_by_cycle(study: StudyData, safety: list[str],
                            max_cycle: int = 12) -> pd.DataFrame:
    """Per cycle 1..``max_cycle`` (later cycles pooled into one row, each patient-cycle one
    observation): patients with ≥ 1 dose given in it, delivered mg/kg median and the relative dose intensity (delivered
    over 20 mg/kg) median, and patients with a delayed dose, an omitted dose or a dose below
    their starting level in that cycle."""
    adm = study["sg_administration"]
    columns = ["cycle", "patients", "delivered_median", "rdi_median", "rdi_q1", "rdi_q3",
               "delayed", "omitted", "reduced"]
    adm = adm[adm["record_id"].isin(safety) & adm["adm_cycle"].notna()].copy()
    if adm.empty:
        return pd.DataFrame(columns=columns)
    adm["mg_per_kg"] = adm["adm_dose_level"].map(MG_PER_KG)
    given = adm["adm_status"].isin(GIVEN) | adm["adm_status"].isna()
    adm["delivered"] = adm["mg_per_kg"].where(given, 0.0).fillna(0.0)
    dated = adm.dropna(subset=["adm_date"]).sort_values(["record_id", "adm_date"])
    start = dated[given.reindex(dated.index, fill_value=False)].groupby(
        "record_id")["mg_per_kg"].first()
    adm["reduced"] = given & (adm["mg_per_kg"] < adm["record_id"].map(start))
    adm["delayed"] = (adm["adm_status"] == AdmStatus.DELAYED) | (adm["adm_delay_days"] > 0)
    adm["omitted"] = adm["adm_status"] == AdmStatus.OMITTED
    adm["cycle"] = adm["adm_cycle"].astype(int)
    adm["given"] = adm["delivered"] > 0
    per = adm.groupby(["cycle", "record_id"]).agg(
        delivered=("delivered", "sum"), given=("given", "any"), reduced=("reduced", "any"),
        delayed=("delayed", "any"), omitted=("omitted", "any")).reset_index()
    per = per[per["given"]]
    per["row"] = per["cycle"].clip(upper=max_cycle + 1)
    rows = []
    for c, part in per.groupby("row"):
        rdi = part["delivered"] / PLANNED_MG_PER_KG_PER_CYCLE
        rows.append({"cycle": str(c) if c <= max_cycle else f"{max_cycle + 1} or later",
                     "patients": int(part["record_id"].nunique()),
                     "delivered_median": float(part["delivered"].median()),
                     "rdi_median": float(rdi.median()),
                     "rdi_q1": float(rdi.quantile(0.25)), "rdi_q3": float(rdi.quantile(0.75)),
                     "delayed": int(part.loc[part["delayed"], "record_id"].nunique()),
                     "omitted": int(part.loc[part["omitted"], "record_id"].nunique()),
                     "reduced": int(part.loc[part["reduced"], "record_id"].nunique())})
    return pd.DataFrame(rows, columns=columns)
