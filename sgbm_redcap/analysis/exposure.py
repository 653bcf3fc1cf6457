"""SG exposure per patient and its summary (DOMAIN §2.3 items 4–5, §4.7).

* doses: administrations given (status given as planned or delayed; omitted ones are not);
  cycles: distinct ``adm_cycle`` with ≥ 1 dose given;
* duration (days): last dose − first dose + 1;
* cumulative dose: Σ ``adm_dose_mg``, and Σ mg/kg from the dose level (10 / 7.5 / 5);
* relative dose intensity: delivered mg/kg per week ÷ planned 20 mg/kg per 3 weeks, over the
  period from the first dose to the planned end of the last cycle (its D1 + 21 days; when the
  last dose is a D8, its date + 14 days);
* delays: administrations with status Delayed or ``adm_delay_days`` > 0;
* reductions are counted against each patient's **start dose** (``sg_start_dose``; the first
  dose given when it is blank): each time the dose level drops below the lowest level so
  far, the start dose included (:func:`reduced_steps`). A patient who started at 7.5 mg/kg
  and stayed there is not reduced (``started_reduced``); ``reduced`` = lowest level given
  below the start dose, so "reduced to 7.5" and "reduced to 5" add up to the reduced;
* discontinuation reason: ``eot_reason``; ongoing when ``eot_ongoing`` = Yes or no reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import prepare
from sgbm_redcap.analysis.sets import GIVEN
from sgbm_redcap.study_codes import AdmDay, AdmStatus, DoseLevel, YesNo

#: mg/kg of each dose level
MG_PER_KG = {DoseLevel.MG_10: 10.0, DoseLevel.MG_7_5: 7.5, DoseLevel.MG_5: 5.0}
PLANNED_MG_PER_KG_PER_WEEK = 20.0 / 3.0


def exposure(tables: Any) -> pd.DataFrame:
    """One row per record with ≥ 1 administration recorded (or an end-of-treatment form)."""
    study = prepare(tables)
    adm = study["sg_administration"].dropna(subset=["adm_date"]).sort_values("adm_date")
    eot = study["end_of_treatment"].drop_duplicates("record_id").set_index("record_id")
    start = study["sg_treatment"].drop_duplicates("record_id").set_index("record_id")[
        "sg_start_dose"].map(MG_PER_KG)
    rows = []
    for rid, group in adm.groupby("record_id", sort=False):
        given = group[group["adm_status"].isin(GIVEN) | group["adm_status"].isna()]
        rows.append(_patient(rid, group, given, eot.loc[rid] if rid in eot.index else None,
                             study.labels.get("eot_reason", {}), start.get(rid, np.nan)))
    return pd.DataFrame(rows, columns=[
        "record_id", "n_doses", "n_cycles", "first_dose", "last_dose", "duration_days",
        "cumulative_mg", "cumulative_mg_per_kg", "relative_dose_intensity", "n_delays",
        "any_delay", "start_level_mg_per_kg", "started_reduced", "n_reductions", "reduced",
        "lowest_level_mg_per_kg", "discontinued", "discontinuation_reason"])


def _patient(rid: str, group: pd.DataFrame, given: pd.DataFrame, eot: pd.Series | None,
             reasons: dict, start: float = np.nan) -> dict:
    first, last = given["adm_date"].min(), given["adm_date"].max()
    levels = given["adm_dose_level"].map(MG_PER_KG)
    known = levels.dropna().tolist()
    if start != start and known:  # no start dose recorded: the first dose given
        start = known[0]
    n_red = sum(reduced_steps(known, start))
    lowest = min(known) if known else np.nan
    delays = int(((group["adm_status"] == AdmStatus.DELAYED)
                  | (group["adm_delay_days"] > 0)).sum())
    rdi = np.nan
    if len(given) and levels.notna().any():
        last_row = given.iloc[-1]
        tail = 14 if last_row["adm_day"] == AdmDay.D8 else 21
        weeks = ((last - first).days + tail) / 7
        rdi = float(levels.sum()) / weeks / PLANNED_MG_PER_KG_PER_WEEK
    reason = eot["eot_reason"] if eot is not None else None
    ongoing = eot is None or eot["eot_ongoing"] == YesNo.YES or reason is None
    return {
        "record_id": rid, "n_doses": int(len(given)),
        "n_cycles": int(given["adm_cycle"].dropna().nunique()),
        "first_dose": first, "last_dose": last,
        "duration_days": float((last - first).days + 1) if len(given) else np.nan,
        "cumulative_mg": float(given["adm_dose_mg"].sum(min_count=1)),
        "cumulative_mg_per_kg": float(levels.sum(min_count=1)),
        "relative_dose_intensity": rdi, "n_delays": delays, "any_delay": delays > 0,
        "start_level_mg_per_kg": start,
        "started_reduced": bool(start == start and start < MG_PER_KG[DoseLevel.MG_10]),
        "n_reductions": n_red, "reduced": n_red > 0, "lowest_level_mg_per_kg": lowest,
        "discontinued": not ongoing,
        "discontinuation_reason": None if ongoing else reasons.get(reason, reason),
    }


def reduced_steps(levels: list[float], start: float) -> list[bool]:
    """For each dose level given (mg/kg, in the order given): is it a reduction, i.e. below
    every level before it, the start dose ``start`` included (NaN: the first level given)?
    The one definition of a dose reduction (the exposure table and check AE-4)."""
    out, lowest = [], start
    for level in levels:
        if lowest != lowest:  # no start dose: the first level given is the start
            lowest = level
            out.append(False)
            continue
        out.append(bool(level < lowest))
        lowest = min(lowest, level)
    return out


def exposure_summary(per_patient: pd.DataFrame) -> pd.DataFrame:
    """Rows for the report: medians (IQR, range) and n (%) of the exposure measures."""
    n = len(per_patient)
    rows = []
    for column, label in [("n_cycles", "Cycles"), ("n_doses", "Doses"),
                          ("duration_days", "Treatment duration (days)"),
                          ("cumulative_mg", "Cumulative dose (mg)"),
                          ("relative_dose_intensity", "Relative dose intensity")]:
        values = per_patient[column].dropna()
        rows.append({"measure": label, "n": int(len(values)), "value": _median_text(values)})
    for column, label in [("any_delay", ">= 1 delay"),
                          ("reduced", ">= 1 dose reduction"),
                          ("discontinued", "Discontinued")]:
        count = int((per_patient[column] > 0).sum()) if n else 0
        rows.append({"measure": label, "n": count,
                     "value": f"{count} ({100 * count / n:.1f}%)" if n else "0"})
    reasons = per_patient["discontinuation_reason"].dropna().value_counts()
    for reason, count in reasons.items():
        rows.append({"measure": f"  reason: {reason}", "n": int(count),
                     "value": f"{count} ({100 * count / n:.1f}%)"})
    return pd.DataFrame(rows)


def _median_text(values: pd.Series) -> str:
    if values.empty:
        return "–"
    q1, med, q3 = values.quantile([0.25, 0.5, 0.75])
    return f"{med:.2f} ({q1:.2f}–{q3:.2f}; {values.min():.2f}–{values.max():.2f})"
