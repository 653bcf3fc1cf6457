"""Analysis sets with the reason each patient is out (DOMAIN §5.1).

* **Safety set**: eligible (``eligible`` = Yes) and ≥ 1 SG dose given (an
  ``sg_administration`` row with status given or delayed-and-given, not omitted).
* **FAS**: safety set, brain metastases known at SG start (``bm_diag_date`` not after SG
  start) and baseline brain imaging in the pre-specified window before SG start (default
  28 days; the study may pre-specify 42). The baseline imaging date is the latest
  ``ia_type`` = Baseline assessment on or before SG start, else ``bm_baseline_scan_date``.
* **IRES** (intracranial response-evaluable): FAS with ≥ 1 measurable target lesion
  (≥ 10 mm) on the baseline assessment; when the baseline assessment has no lesion
  measurements, ``bm_measurable_n`` ≥ 1 counts. The CRF has no per-lesion irradiation date,
  so the "not irradiated within 4 weeks" target rule cannot be applied here; patients with
  CNS radiation < 4 weeks before SG are a pre-specified subgroup instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData, prepare
from sgbm_redcap.study_codes import AdmStatus, AssessmentType, YesNo

#: administrations given: as planned, or delayed and then given
GIVEN = (AdmStatus.GIVEN, AdmStatus.DELAYED)


def first_doses(study: StudyData) -> pd.DataFrame:
    """First and last SG administration date and number of doses given, per record."""
    adm = study["sg_administration"]
    given = adm[adm["adm_status"].isin(GIVEN) | adm["adm_status"].isna()]
    given = given.dropna(subset=["adm_date"])
    return given.groupby("record_id")["adm_date"].agg(
        first_dose="min", last_dose="max", n_doses="count")


def analysis_sets(tables: Any, *, baseline_window_days: int = 28,
                  measurable_mm: float = 10.0) -> pd.DataFrame:
    """One row per record: membership of each set and, when out, why."""
    study = prepare(tables)
    base = study.one_per_record("enrolment", "sg_treatment", "brain_mets_baseline")
    base = base.join(first_doses(study), on="record_id")
    ia = study["intracranial_assessment"]
    ia_base = ia[(ia["ia_type"] == AssessmentType.BASELINE) & ia["ia_date"].notna()]
    by_record = {rid: group for rid, group in ia_base.groupby("record_id", sort=False)}
    no_scans = ia_base.iloc[0:0]
    rows = [_membership(rec, by_record.get(rec.record_id, no_scans), baseline_window_days,
                        measurable_mm)
            for rec in base.itertuples(index=False)]
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out.insert(1, "redcap_data_access_group", base["redcap_data_access_group"].to_numpy())
    return out


_COLUMNS = ["record_id", "sg_start_date", "first_dose", "safety", "safety_reason", "fas",
            "fas_reason", "ires", "ires_reason", "baseline_scan_date", "days_scan_before_sg"]


def _membership(rec: Any, scans: pd.DataFrame, window: int, measurable_mm: float) -> dict:
    start = rec.sg_start_date
    row = {"record_id": rec.record_id, "sg_start_date": start, "first_dose": rec.first_dose,
           "safety": False, "safety_reason": "", "fas": False, "fas_reason": "",
           "ires": False, "ires_reason": "", "baseline_scan_date": pd.NaT,
           "days_scan_before_sg": np.nan}
    if rec.eligible != YesNo.YES:
        row["safety_reason"] = ("not eligible" if rec.eligible == YesNo.NO
                                else "eligibility not recorded")
    elif pd.isna(rec.first_dose):
        row["safety_reason"] = "no SG dose recorded"
    else:
        row["safety"] = True
    if pd.isna(start) and pd.notna(rec.first_dose):
        start = row["sg_start_date"] = rec.first_dose
    scan_date, lesions = _baseline_scan(rec, scans, start)
    row["baseline_scan_date"] = scan_date
    if pd.notna(scan_date) and pd.notna(start):
        row["days_scan_before_sg"] = float((start - scan_date).days)
    row["fas"], row["fas_reason"] = _fas(row, rec, start, scan_date, window)
    if row["fas"]:
        row["ires"], row["ires_reason"] = _ires(rec, lesions, measurable_mm)
    else:
        row["ires_reason"] = "not in FAS"
    return row


def _baseline_scan(rec: Any, scans: pd.DataFrame, start: Any) -> tuple[Any, pd.Series | None]:
    dated = scans.sort_values("ia_date")
    if pd.notna(start):
        before = dated[dated["ia_date"] <= start]
        dated = before if not before.empty else dated
    if not dated.empty:
        last = dated.iloc[-1]
        return last["ia_date"], last[[f"ia_tl{i}_ld" for i in range(1, 6)]]
    return rec.bm_baseline_scan_date, None


def _fas(row: dict, rec: Any, start: Any, scan_date: Any, window: int) -> tuple[bool, str]:
    if not row["safety"]:
        return False, "not in safety set"
    if pd.isna(start):
        return False, "no SG start date"
    if pd.notna(rec.bm_diag_date) and rec.bm_diag_date > start:
        return False, "brain metastases first diagnosed after SG start"
    if pd.isna(scan_date):
        return False, "no baseline brain imaging"
    days = (start - scan_date).days
    if days < 0:
        return False, "baseline brain imaging after SG start"
    if days > window:
        return False, f"baseline brain imaging {days} days before SG start (window {window})"
    return True, ""


def _ires(rec: Any, lesions: pd.Series | None, measurable_mm: float) -> tuple[bool, str]:
    if lesions is not None and lesions.notna().any():
        if (lesions >= measurable_mm).any():
            return True, ""
        return False, f"no measurable (>= {measurable_mm:g} mm) intracranial lesion at baseline"
    if pd.notna(rec.bm_measurable_n) and rec.bm_measurable_n >= 1:
        return True, ""
    return False, "no measurable intracranial lesion recorded at baseline"
