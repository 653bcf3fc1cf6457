"""RANO-BM time-point response derived from the measurements (DOMAIN §1.3–§1.5).

One row per post-baseline intracranial assessment: SLD of the baseline target lesions, %
change from baseline and from the nadir (smallest SLD so far, baseline included), the
largest increase of a single lesion over its own nadir, the non-target / new-lesion / LMD /
steroid / clinical components, the derived response, the investigator's call and whether
they agree.

Rules (Lin 2015 grid; choices the CRF forces are noted):

* targets are the lesions measured on the baseline assessment (``ia_type`` = 1, the latest
  one on or before SG start; a later one only if none precedes SG start);
* target CR: SLD 0; PD: SLD ≥ 20 % above the nadir **and** one lesion ≥ 5 mm above its own
  nadir; PR: SLD ≥ 30 % below baseline; else SD. A follow-up that misses a baseline target is
  NE unless the lesions measured already show PD;
* PD overall when any one of: target PD, non-target unequivocal PD, a new lesion (``Yes``),
  LMD progression, clinical status worse (unless the investigator recorded the worsening as
  not tumour-related, ``ia_clin_tumour`` = No, which only bars CR/PR). An *equivocal* new
  lesion is not PD on its own; it bars CR;
* CR needs non-target and LMD absent, no new lesion, no corticosteroid (``ia_steroid_dex_mg``
  0 or blank), clinical status stable or better; a target CR that misses any of these is PR;
* CR/PR with a corticosteroid increase (``ia_steroid_change`` = 3) or non-tumour clinical
  worsening becomes SD (steroids must be stable or decreased);
* no targets at baseline (non-measurable disease only): CR, NON-CR/NON-PD, PD or NE.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData, prepare
from sgbm_redcap.study_codes import (
    AssessmentType,
    ClinicalStatus,
    LmdAssessment,
    NewLesion,
    NonTarget,
    Response,
    SteroidChange,
    YesNo,
)

logger = logging.getLogger(__name__)

#: investigator response codes (ia_rano_inv / ea_recist_inv) → the derivation's BOR
#: vocabulary (upper case "NON-CR/NON-PD", as the derived responses spell it)
RESPONSE_CODES = {Response.CR: "CR", Response.PR: "PR", Response.SD: "SD", Response.PD: "PD",
                  Response.NE: "NE", Response.NON_CR_NON_PD: "NON-CR/NON-PD"}

_COLUMNS = ["record_id", "redcap_repeat_instance", "date", "sld", "baseline_sld", "nadir_sld",
            "pct_from_baseline", "pct_from_nadir", "max_lesion_increase", "target_response",
            "nontarget", "new_lesion", "response_derived", "response_investigator", "agree"]


def rano_timepoints(tables: Any, sg_start: pd.Series | None = None) -> pd.DataFrame:
    """Derived RANO-BM time-point responses of every post-baseline intracranial assessment.

    ``sg_start``: SG start date per record_id (defaults to ``sg_treatment.sg_start_date``).
    """
    study = prepare(tables)
    return derive_timepoints(study["intracranial_assessment"], "ia", "RANO-BM",
                             _sg_start(study, sg_start))


def _sg_start(study: StudyData, sg_start: pd.Series | None) -> pd.Series:
    if sg_start is not None:
        return sg_start
    frame = study["sg_treatment"].drop_duplicates("record_id")
    return frame.set_index("record_id")["sg_start_date"]


def derive_timepoints(assessments: pd.DataFrame, prefix: str, criteria: str,
                      sg_start: pd.Series) -> pd.DataFrame:
    """Shared engine of :func:`rano_timepoints` and :func:`recist_timepoints`."""
    rows: list[dict] = []
    frame = assessments.dropna(subset=[f"{prefix}_date"]).sort_values(
        ["record_id", f"{prefix}_date"], kind="stable")
    records = frame.to_dict("records")
    starts = sg_start.to_dict()
    by_patient: dict[str, list[dict]] = {}
    for row in records:
        by_patient.setdefault(row["record_id"], []).append(row)
    for record_id, group in by_patient.items():
        rows.extend(_patient(group, prefix, criteria, starts.get(record_id)))
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    for column in ("sld", "baseline_sld", "nadir_sld", "pct_from_baseline", "pct_from_nadir",
                   "max_lesion_increase"):
        out[column] = out[column].astype(float)
    return out


def _baseline(group: list[dict], prefix: str, start: Any) -> dict | None:
    base = [r for r in group if r[f"{prefix}_type"] == AssessmentType.BASELINE]
    if not base:
        return None
    if start is not None and pd.notna(start):
        before = [r for r in base if r[f"{prefix}_date"] <= start]
        if before:
            return before[-1]
    return base[-1]


def _patient(group: list[dict], prefix: str, criteria: str, start: Any) -> list[dict]:
    base = _baseline(group, prefix, start)
    lesions = [f"{prefix}_tl{i}_ld" for i in range(1, 6)]
    follow = [r for r in group if r[f"{prefix}_type"] != AssessmentType.BASELINE]
    if base is not None:
        follow = [r for r in follow if r[f"{prefix}_date"] > base[f"{prefix}_date"]]
    targets = [c for c in lesions if base is not None and pd.notna(base[c])]
    history = [{c: base[c] for c in targets}] if targets else []
    base_sld = float(sum(base[c] for c in targets)) if targets else np.nan
    base_nt = base[f"{prefix}_nontarget"] if base is not None else None
    base_lmd = base.get("ia_lmd") if base is not None else None
    inv_field = f"{prefix}_{'rano_inv' if prefix == 'ia' else 'recist_inv'}"
    rows = []
    for row in follow:
        measured = {c: row[c] for c in targets if pd.notna(row[c])}
        target, sld, nadir, inc = _target(measured, targets, history, base_sld, criteria)
        if len(measured) == len(targets) and targets:
            history.append(measured)
        components = _components(row, prefix, base is not None, base_nt, base_lmd)
        derived = _overall(target, components, bool(targets), base is not None)
        inv = RESPONSE_CODES.get(row[inv_field])
        rows.append({
            "record_id": row["record_id"],
            "redcap_repeat_instance": row["redcap_repeat_instance"],
            "date": row[f"{prefix}_date"], "sld": sld, "baseline_sld": base_sld,
            "nadir_sld": nadir,
            "pct_from_baseline": _pct(sld, base_sld), "pct_from_nadir": _pct(sld, nadir),
            "max_lesion_increase": inc, "target_response": target,
            "nontarget": components["nontarget"], "new_lesion": components["new"],
            "response_derived": derived, "response_investigator": inv,
            "agree": (inv == derived) if inv is not None else None,
        })
    return rows


def _pct(value: float, reference: float) -> float:
    if np.isnan(value) or np.isnan(reference):
        return np.nan
    if reference == 0:
        return 0.0 if value == 0 else np.inf
    return 100.0 * (value - reference) / reference


def _target(measured: dict, targets: list, history: list, base_sld: float,
            criteria: str) -> tuple[str | None, float, float, float]:
    if not targets:
        return None, np.nan, np.nan, np.nan
    nadir = min(sum(h.values()) for h in history)
    lesion_nadir = {c: min(h[c] for h in history) for c in targets}
    incs = [v - lesion_nadir[c] for c, v in measured.items()]
    inc = max(incs) if incs else np.nan
    partial = float(sum(measured.values()))
    grows = partial >= 1.2 * nadir and (
        inc >= 5 if criteria == "RANO-BM" else partial - nadir >= 5) and partial > nadir
    if len(measured) < len(targets):
        return ("PD" if grows else "NE"), np.nan, nadir, inc
    if partial == 0:
        return "CR", partial, nadir, inc
    if grows:
        return "PD", partial, nadir, inc
    if partial <= 0.7 * base_sld:
        return "PR", partial, nadir, inc
    return "SD", partial, nadir, inc


def _components(row: dict, prefix: str, has_base: bool, base_nt: Any,
                base_lmd: Any) -> dict:
    nt = row[f"{prefix}_nontarget"]
    if nt is None:
        nt = (NonTarget.ABSENT if base_nt in (None, NonTarget.ABSENT) and has_base
              else NonTarget.NOT_EVALUABLE)
    nontarget = {NonTarget.ABSENT: "absent", NonTarget.PRESENT: "present",
                 NonTarget.PROGRESSION: "PD", NonTarget.NOT_EVALUABLE: "NE"}.get(nt, "NE")
    new = {NewLesion.YES: "yes", NewLesion.EQUIVOCAL: "equivocal"}.get(
        row[f"{prefix}_new_lesion"], "no")
    comp = {"nontarget": nontarget, "new": new, "lmd": "absent", "steroids": False,
            "steroid_up": False, "worse": False, "worse_other": False}
    if prefix != "ia":
        return comp
    lmd = row.get("ia_lmd")
    comp["lmd"] = {LmdAssessment.PROGRESSION: "PD",
                   LmdAssessment.NOT_EVALUABLE: ("NE" if base_lmd not in
                                                 (None, LmdAssessment.ABSENT) else "absent"),
                   LmdAssessment.STABLE: "present",
                   LmdAssessment.IMPROVED: "present"}.get(lmd, "absent")
    dex = row.get("ia_steroid_dex_mg")
    comp["steroids"] = bool(dex is not None and pd.notna(dex) and dex > 0)
    comp["steroid_up"] = row.get("ia_steroid_change") == SteroidChange.INCREASED
    if row.get("ia_clinical") == ClinicalStatus.WORSE:
        other = row.get("ia_clin_tumour") == YesNo.NO  # worse for a reason other than tumour
        comp["worse"], comp["worse_other"] = not other, other
    return comp


def _overall(target: str | None, c: dict, has_targets: bool, has_base: bool) -> str:
    if (target == "PD" or c["nontarget"] == "PD" or c["new"] == "yes" or c["lmd"] == "PD"
            or c["worse"]):
        return "PD"
    if not has_base:
        return "NE"
    clean = (c["nontarget"] == "absent" and c["lmd"] == "absent" and c["new"] == "no"
             and not c["steroids"] and not c["steroid_up"] and not c["worse_other"])
    if not has_targets:
        if c["nontarget"] == "NE" or c["lmd"] == "NE":
            return "NE"
        return "CR" if clean else "NON-CR/NON-PD"
    if target == "NE":
        return "NE"
    response = target
    if target == "CR" and not clean:
        response = "PR"
    if response in ("CR", "PR") and (c["steroid_up"] or c["worse_other"]):
        response = "SD"
    return response
