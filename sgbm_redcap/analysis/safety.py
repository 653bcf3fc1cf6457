"""Treatment-emergent adverse events and supportive care (DOMAIN §2.2–§2.3).

* **TEAE**: onset on or after the first SG dose and up to 30 days after the last dose (no
  upper limit while SG is ongoing). An AE without an onset date is counted as treatment-
  emergent (the conservative choice) and flagged ``onset_missing``.
* **Term** is the CTCAE v5.0 term of ``ae_term`` (the verbatim ``ae_term_other`` for code
  999); **pooled term** applies DOMAIN §2.2 (neutropenia = neutropenia + neutrophil count
  decreased; anemia = anemia + hemoglobin / red-cell count decreased; leukopenia = leukopenia
  + white blood cell decreased) through ``sgbm_redcap.dictionary.ctcae.pooled_term`` when that
  module is present, else through the same map by term name.
* each patient counts once per pooled term, at the highest grade;
* **related** = investigator's "related", or relation unknown / blank (conservative);
* AESIs: AEs flagged ``ae_aesi`` plus the SG/BM terms of :data:`AESI_TERMS`; time to first
  onset in days from the first dose (first dose day = day 1).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData, prepare
from sgbm_redcap.analysis.sets import first_doses
from sgbm_redcap.dictionary.ctcae import OTHER_TERM_CODE
from sgbm_redcap.study_codes import (
    AeAction,
    AeRelation,
    CmCategory,
    GcsfPurpose,
    GcsfType,
    YesNo,
)

logger = logging.getLogger(__name__)

TEAE_WINDOW_DAYS = 30

_POOLING = {  # DOMAIN §2.2, by lower-cased term name
    "neutropenia": "Neutropenia", "neutrophil count decreased": "Neutropenia",
    "anemia": "Anemia", "anaemia": "Anemia", "hemoglobin decreased": "Anemia",
    "red blood cell count decreased": "Anemia",
    "leukopenia": "Leukopenia", "white blood cell decreased": "Leukopenia",
    "white blood cell count decreased": "Leukopenia",
}

#: AESI groups for SG in BM patients (DOMAIN §2.3 item 3), by lower-cased term name.
AESI_TERMS: dict[str, tuple[str, ...]] = {
    "Neutropenia": ("neutropenia",),
    "Febrile neutropenia": ("febrile neutropenia",),
    "Diarrhea": ("diarrhea", "diarrhoea"),
    "Nausea/vomiting": ("nausea", "vomiting"),
    "Infusion-related reaction/hypersensitivity": ("infusion related reaction",
                                                    "allergic reaction", "anaphylaxis"),
    "Anemia": ("anemia",),
    "Neutropenic colitis": ("colitis", "typhlitis", "neutropenic colitis", "enterocolitis"),
    "Seizure": ("seizure",),
    # "Edema cerebral" is the CTCAE v5.0 term (ae_term 1603)
    "Cerebral edema": ("edema cerebral", "cerebral edema", "cerebral oedema"),
    "Radionecrosis": ("central nervous system necrosis", "radiation necrosis"),
}


def _pooled(code: str | None, term: str, verbatim: str | None) -> str:
    try:
        from sgbm_redcap.dictionary.ctcae import pooled_term
    except ImportError:  # pragma: no cover - the dictionary package is built in parallel
        pooled_term = None
    if pooled_term is not None and code is not None:
        found = pooled_term(code, verbatim or "")
        if found:
            return found
    return _POOLING.get(term.strip().lower(), term)


def adverse_events(tables: Any, *, population: list[str] | None = None) -> pd.DataFrame:
    """AE rows with term, pooled term, grade and the TEAE flag, for ``population`` records."""
    study = prepare(tables)
    ae = study["adverse_events"].copy()
    if population is not None:
        ae = ae[ae["record_id"].isin(population)]
    window = _windows(study)
    terms = study.labels.get("ae_term", {})
    ae["term"] = [(other or "Other, specify") if code == OTHER_TERM_CODE
                  else terms.get(code, code or "Term missing")
                  for code, other in zip(ae["ae_term"], ae["ae_term_other"], strict=True)]
    ae["pooled_term"] = [_pooled(c, t, v) for c, t, v in
                         zip(ae["ae_term"], ae["term"], ae["ae_term_other"], strict=True)]
    ae["grade"] = pd.to_numeric(ae["ae_grade"], errors="coerce")
    ae["serious"] = ae["ae_serious"] == YesNo.YES
    # an unknown or unrecorded relation counts as related (conservative)
    ae["related"] = (ae["ae_relation"].isin([AeRelation.RELATED, AeRelation.UNKNOWN])
                     | ae["ae_relation"].isna())
    ae["aesi_flag"] = ae["ae_aesi"] == YesNo.YES
    ae = ae.join(window, on="record_id")
    ae["onset_missing"] = ae["ae_onset_date"].isna()
    onset = ae["ae_onset_date"]
    after_first = onset >= ae["first_dose"]
    before_end = ae["window_end"].isna() | (onset <= ae["window_end"])
    ae["teae"] = ae["first_dose"].notna() & (ae["onset_missing"] | (after_first & before_end))
    ae["onset_day"] = (onset - ae["first_dose"]).dt.days + 1
    return ae.reset_index(drop=True)


def _windows(study: StudyData) -> pd.DataFrame:
    doses = first_doses(study)
    eot = study["end_of_treatment"].drop_duplicates("record_id").set_index("record_id")
    last = doses["last_dose"].combine_first(eot["eot_last_dose_date"]).reindex(doses.index)
    stopped = eot["eot_reason"].notna() & (eot["eot_ongoing"] != YesNo.YES)
    stopped = stopped.reindex(doses.index, fill_value=False)
    end = (last + pd.Timedelta(days=TEAE_WINDOW_DAYS)).where(stopped)
    return pd.DataFrame({"first_dose": doses["first_dose"], "window_end": end})


def max_grade_per_term(ae: pd.DataFrame) -> pd.DataFrame:
    """One row per patient and pooled term with the highest grade among TEAEs."""
    teae = ae[ae["teae"]]
    return (teae.groupby(["record_id", "pooled_term"], as_index=False)
            .agg(max_grade=("grade", "max"), serious=("serious", "any"),
                 related=("related", "any")))


def _n_pct(count: int, n: int) -> dict:
    return {"n": int(count), "pct": 100.0 * count / n if n else np.nan}


def teae_overview(ae: pd.DataFrame, n_safety: int) -> pd.DataFrame:
    """The overall TEAE summary, n (%) of patients of the safety set."""
    t = ae[ae["teae"]]
    g3 = t["grade"] >= 3
    rows = [
        ("Any TEAE", t), ("Treatment-related TEAE", t[t.related]),
        ("Grade >= 3 TEAE", t[g3]), ("Treatment-related grade >= 3 TEAE", t[g3 & t.related]),
        ("Serious TEAE", t[t.serious]), ("Treatment-related serious TEAE", t[t.serious & t.related]),
        ("TEAE leading to dose interruption or delay",
         t[t.ae_action == AeAction.INTERRUPTED_OR_DELAYED]),
        ("TEAE leading to dose reduction", t[t.ae_action == AeAction.DOSE_REDUCED]),
        ("TEAE leading to discontinuation", t[t.ae_action == AeAction.DISCONTINUED]),
        ("TEAE leading to death (grade 5)", t[t.grade == 5]),
        ("Treatment-related death", t[(t.grade == 5) & t.related]),
    ]
    return pd.DataFrame([{"category": label, **_n_pct(sub["record_id"].nunique(), n_safety)}
                         for label, sub in rows])


def overview_gaps(ae: pd.DataFrame, exposure: pd.DataFrame, dead: Any) -> dict[str, int]:
    """Patients the TEAE overview counts that other tables do not show the same way:

    * ``reduction_not_given``: a TEAE leading to dose reduction but no reduced dose in the
      exposure (``exposure.reduced``: against the start dose); check AE-3 queries them;
    * ``grade5_not_dead``: a grade 5 TEAE but no death recorded (``dead``: the record ids of
      the deaths, the OS events), so not in the death listing; check AE-1;
    * ``grade5_not_serious``: a grade 5 TEAE not marked serious, so not in the SAE listing;
      check AE-4."""
    t = ae[ae["teae"]]
    reduced = set(exposure.loc[exposure["reduced"].astype(bool), "record_id"])
    by_ae = set(t.loc[t["ae_action"] == AeAction.DOSE_REDUCED, "record_id"])
    g5 = t[t["grade"] == 5]
    return {"reduction_not_given": len(by_ae - reduced),
            "grade5_not_dead": len(set(g5["record_id"]) - set(dead)),
            "grade5_not_serious": int(g5.loc[~g5["serious"].astype(bool),
                                             "record_id"].nunique())}


def teae_by_term(ae: pd.DataFrame, n_safety: int) -> pd.DataFrame:
    """Patients per pooled term at their highest grade: any grade, grade ≥ 3, 3, 4, 5."""
    worst = max_grade_per_term(ae)
    table = worst.groupby("pooled_term").agg(
        n_any=("record_id", "nunique"),
        n_grade3plus=("max_grade", lambda g: int((g >= 3).sum())),
        n_grade3=("max_grade", lambda g: int((g == 3).sum())),
        n_grade4=("max_grade", lambda g: int((g == 4).sum())),
        n_grade5=("max_grade", lambda g: int((g == 5).sum())),
    ).reset_index().rename(columns={"pooled_term": "term"})
    table["pct_any"] = 100.0 * table["n_any"] / n_safety if n_safety else np.nan
    table["pct_grade3plus"] = 100.0 * table["n_grade3plus"] / n_safety if n_safety else np.nan
    return table.sort_values(["n_any", "n_grade3plus", "term"],
                             ascending=[False, False, True]).reset_index(drop=True)


def aesi_onset(ae: pd.DataFrame) -> pd.DataFrame:
    """Per patient and AESI group: first onset day and highest grade among TEAEs."""
    t = ae[ae["teae"]].copy()
    lowered = t["pooled_term"].astype(str).str.lower()
    rows = []
    for group, names in AESI_TERMS.items():
        hit = t[lowered.isin(names)]
        for rid, sub in hit.groupby("record_id"):
            rows.append({"record_id": rid, "aesi": group, "first_onset_day":
                         sub["onset_day"].min(), "max_grade": sub["grade"].max()})
    other = t[t["aesi_flag"] & ~lowered.isin([n for v in AESI_TERMS.values() for n in v])]
    for (rid, term), sub in other.groupby(["record_id", "pooled_term"]):
        rows.append({"record_id": rid, "aesi": term, "first_onset_day":
                     sub["onset_day"].min(), "max_grade": sub["grade"].max()})
    return pd.DataFrame(rows, columns=["record_id", "aesi", "first_onset_day", "max_grade"])


def aesi_summary(ae: pd.DataFrame, n_safety: int) -> pd.DataFrame:
    """Per AESI group: patients n (%), grade ≥ 3 n, median (range) day of first onset."""
    per = aesi_onset(ae)
    rows = []
    for group, sub in per.groupby("aesi", sort=False):
        days = sub["first_onset_day"].dropna()
        rows.append({"aesi": group, **_n_pct(len(sub), n_safety),
                     "n_grade3plus": int((sub["max_grade"] >= 3).sum()),
                     "median_first_onset_day": float(days.median()) if len(days) else np.nan,
                     "min_first_onset_day": float(days.min()) if len(days) else np.nan,
                     "max_first_onset_day": float(days.max()) if len(days) else np.nan})
    return pd.DataFrame(rows, columns=["aesi", "n", "pct", "n_grade3plus",
                                       "median_first_onset_day", "min_first_onset_day",
                                       "max_first_onset_day"])


def gcsf_use(tables: Any, population: list[str]) -> pd.DataFrame:
    """Patients with G-CSF (``cm_category`` = 2): any, by purpose and by agent type."""
    study = prepare(tables)
    cm = study["concomitant_care"]
    g = cm[(cm["cm_category"] == CmCategory.GCSF) & cm["record_id"].isin(population)]
    n = len(population)
    rows = [("Any G-CSF", g)]
    for purpose in GcsfPurpose:
        rows.append((study.label("gcsf_purpose", purpose), g[g["gcsf_purpose"] == purpose]))
    rows.append(("Purpose not recorded", g[g["gcsf_purpose"].isna()]))
    for kind in GcsfType:
        rows.append((study.label("gcsf_type", kind), g[g["gcsf_type"] == kind]))
    return pd.DataFrame([{"category": label, **_n_pct(sub["record_id"].nunique(), n)}
                         for label, sub in rows])
