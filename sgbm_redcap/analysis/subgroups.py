"""Pre-specified subgroups (DOMAIN §5.5) and their iORR / median iPFS estimates.

Estimates of a subgroup level with fewer than ``min_patients`` (10) patients, or a median
with fewer than ``min_events`` (5) events, are **suppressed** (NaN) by default and always
flagged; ``suppress=False`` keeps the numbers and only flags them. Unknown membership
(blank field) leaves the patient out of that subgroup's levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData, prepare
from sgbm_redcap.analysis.proportions import clopper_pearson
from sgbm_redcap.analysis.survival import cox_hazard_ratio, fit_km
from sgbm_redcap.study_codes import (
    BmCount,
    BmStatus,
    Checkbox,
    CnsTherapy,
    Her2Ihc,
    Subtype,
    SystemicAgent,
    Ugt1a1,
    YesNo,
)

#: levels of the yes/no subgroups
YES_NO = {YesNo.YES: "Yes", YesNo.NO: "No"}
#: the CNS therapies that are radiation
RADIATION = (CnsTherapy.SRS, CnsTherapy.FSRT, CnsTherapy.WBRT, CnsTherapy.HA_WBRT)
#: the sys_agents checkbox columns of a prior ADC: T-DXd, other ADC
ADC_AGENTS = tuple(f"sys_agents___{agent}" for agent in (SystemicAgent.T_DXD,
                                                          SystemicAgent.OTHER_ADC))

SUBGROUPS = (
    "Subtype", "HER2 status", "BM activity", "BM previously treated", "Prior CNS radiation",
    "CNS radiation < 4 weeks before SG", "Leptomeningeal disease", "Number of BM",
    "Symptomatic BM", "ECOG", "Line of SG", "Prior T-DXd or other ADC", "UGT1A1*28",
    "Trop-2 H-score",
)


def _map(series: pd.Series, mapping: dict) -> pd.Series:
    return series.map(lambda v: mapping.get(v))


def subgroup_membership(tables: Any) -> pd.DataFrame:
    """One row per record, one column per subgroup of :data:`SUBGROUPS` (level or None)."""
    study = prepare(tables)
    per = study.one_per_record("demographics", "tumour", "brain_mets_baseline",
                               "sg_treatment")
    out = pd.DataFrame({"record_id": per["record_id"]})
    # subgroup levels are the SAP's groupings of the codes, not the dictionary's labels
    out["Subtype"] = _map(per["subtype_sg"], {Subtype.HR_POSITIVE_HER2_NEGATIVE: "HR+/HER2−",
                                              Subtype.TNBC: "TNBC"})
    her2 = _map(per["her2_low"], {YesNo.YES: "HER2-low"})  # her2_low: a calc, 1 = yes
    out["HER2 status"] = her2.where(her2.notna(),
                                    _map(per["her2_ihc"], {Her2Ihc.ZERO: "HER2-0"}))
    out["BM activity"] = _map(per["bm_status"], {BmStatus.UNTREATED: "Active",
                                                 BmStatus.TREATED_PROGRESSING: "Active",
                                                 BmStatus.TREATED_STABLE: "Stable"})
    out["BM previously treated"] = _map(per["bm_status"],
                                        {BmStatus.UNTREATED: "Untreated",
                                         BmStatus.TREATED_STABLE: "Treated",
                                         BmStatus.TREATED_PROGRESSING: "Treated"})
    radiated, recent = _radiation(study, per.set_index("record_id")["sg_start_date"])
    out["Prior CNS radiation"] = out["record_id"].map(radiated)
    out["CNS radiation < 4 weeks before SG"] = out["record_id"].map(recent)
    out["Leptomeningeal disease"] = _map(per["lmd"], YES_NO)
    count = per["bm_count"].map(lambda c: None if pd.isna(c) else ("1-3" if c <= 3 else ">=4"))
    by_cat = _map(per["bm_count_cat"], {BmCount.ONE: "1-3", BmCount.TWO_TO_THREE: "1-3",
                                        BmCount.FOUR_TO_TEN: ">=4",
                                        BmCount.MORE_THAN_TEN: ">=4"})
    out["Number of BM"] = count.where(count.notna(), by_cat)
    out["Symptomatic BM"] = _map(per["bm_symptomatic"], YES_NO)
    # ecog codes are the ECOG score itself (0-4)
    out["ECOG"] = _map(per["ecog"], {str(score): "0-1" if score <= 1 else ">=2"
                                     for score in range(5)})
    out["Line of SG"] = per["sg_line"].map(
        lambda v: None if pd.isna(v) else ("<=2" if v <= 2 else ">=3"))
    out["Prior T-DXd or other ADC"] = out["record_id"].map(_prior_adc(study))
    genotypes = {code: study.label("ugt1a1_28", code)  # "not tested" is no level
                 for code in study.labels.get("ugt1a1_28") or list(Ugt1a1)
                 if code != Ugt1a1.NOT_TESTED}
    out["UGT1A1*28"] = _ordered(_map(per["ugt1a1_28"], genotypes), genotypes.values())
    trop2 = ("<100", "100-199", ">=200")
    out["Trop-2 H-score"] = _ordered(per["trop2_hscore"].map(
        lambda h: None if pd.isna(h) else (trop2[0] if h < 100 else
                                           trop2[1] if h < 200 else trop2[2])), trop2)
    return out


def _ordered(levels: pd.Series, order: Any) -> pd.Series:
    """``levels`` as a categorical in ``order`` (the genotypes in the dictionary's choice
    order, H-score bands low to high), so that every table and figure lists them so; the
    other subgroups' levels sort alphabetically, which is their reading order already."""
    return pd.Series(pd.Categorical(levels, categories=list(order), ordered=True),
                     index=levels.index)


def _radiation(study: StudyData, sg_start: pd.Series) -> tuple[dict, dict]:
    cns = study["prior_cns_therapy"]
    rt = cns[cns["cns_type"].isin(RADIATION)]
    last = rt.assign(when=rt["cns_end_date"].fillna(rt["cns_start_date"]))
    last = last.groupby("record_id")["when"].max()
    radiated, recent = {}, {}
    for rid, start in sg_start.items():
        had = rid in last.index
        radiated[rid] = "Yes" if had else "No"
        if had and pd.notna(last[rid]) and pd.notna(start):
            recent[rid] = "Yes" if (start - last[rid]).days < 28 else "No"
        elif not had:
            recent[rid] = "No"
    return radiated, recent


def _prior_adc(study: StudyData) -> dict:
    sys = study["prior_systemic_therapy"]
    present = [c for c in ADC_AGENTS if c in sys.columns]
    if not present:
        return {}
    hit = (sys[present] == Checkbox.CHECKED).any(axis=1)
    return {rid: ("Yes" if flag else "No")
            for rid, flag in hit.groupby(sys["record_id"]).any().items()}


def subgroup_estimates(membership: pd.DataFrame, bor: pd.DataFrame, ires: list[str],
                       ipfs: pd.DataFrame, fas: list[str], *, min_patients: int = 10,
                       min_events: int = 5, suppress: bool = True) -> pd.DataFrame:
    """iORR (CP CI) in the IRES and median iPFS (months, log-log CI) in the FAS per level.

    ``bor``: record_id, response; ``ipfs``: record_id, months, event.
    """
    responders = set(bor.loc[bor["response"].isin(("CR", "PR")), "record_id"])
    ipfs = ipfs.set_index("record_id")
    in_ires, in_fas = set(ires), set(fas)
    rows = []
    for subgroup in [c for c in membership.columns if c != "record_id"]:
        levels = []
        for level, ids in membership.groupby(subgroup, observed=True)["record_id"]:
            members = set(ids)
            levels.append(_level(subgroup, level, members, responders, in_ires, ipfs, in_fas,
                                 min_patients, min_events, suppress))
            levels[-1]["ids"] = members  # for the hazard ratio; not a column
        _hazard_ratio(levels, ipfs, in_fas, suppress)
        rows += levels
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)


def _hazard_ratio(levels: list[dict], ipfs: pd.DataFrame, fas: set, suppress: bool) -> None:
    """For a two-level subgroup, the iPFS Cox HR of the second level against the first (the
    reference row says so); left blank when either level's iPFS estimate is flagged as small
    and small subgroups are suppressed, and for subgroups of other sizes."""
    for row in levels:
        row.update(ipfs_hr=np.nan, ipfs_hr_lower=np.nan, ipfs_hr_upper=np.nan,
                   hr_reference=False)
    if len(levels) != 2:
        return
    reference, other = levels
    levels[0]["hr_reference"] = True
    if suppress and ("iPFS" in reference["flag"] or "iPFS" in other["flag"]):
        return
    in_fas = [i for i in sorted((reference["ids"] | other["ids"]) & fas) if i in ipfs.index]
    if not in_fas:
        return
    times = ipfs.loc[in_fas]
    hr = cox_hazard_ratio(times["months"], times["event"],
                          [1 if i in other["ids"] else 0 for i in in_fas])
    if hr is not None:
        other.update(ipfs_hr=hr.hr, ipfs_hr_lower=hr.lower, ipfs_hr_upper=hr.upper)


#: columns of :func:`subgroup_estimates` (also when there is no patient yet)
ESTIMATE_COLUMNS = ["subgroup", "level", "n_ires", "responders", "iorr", "iorr_lower",
                    "iorr_upper", "n_fas", "ipfs_events", "ipfs_median", "ipfs_lower",
                    "ipfs_upper", "ipfs_hr", "ipfs_hr_lower", "ipfs_hr_upper", "hr_reference",
                    "flag"]


def _level(subgroup, level, ids, responders, ires, ipfs, fas, min_patients, min_events,
           suppress) -> dict:
    in_ires = ids & ires
    prop = clopper_pearson(len(in_ires & responders), len(in_ires))
    in_fas = sorted(ids & fas & set(ipfs.index))
    times = ipfs.loc[in_fas]
    events = int(times["event"].sum()) if len(times) else 0
    km = fit_km(times["months"], times["event"]) if len(times) else None
    flags = []
    small_ires = len(in_ires) < min_patients
    small_km = len(in_fas) < min_patients or events < min_events
    if small_ires:
        flags.append(f"iORR: fewer than {min_patients} patients")
    if small_km:
        flags.append(f"iPFS: fewer than {min_patients} patients or {min_events} events")
    hide_orr, hide_km = suppress and small_ires, suppress and small_km
    nan = np.nan
    return {
        "subgroup": subgroup, "level": level,
        "n_ires": len(in_ires), "responders": prop.x,
        "iorr": nan if hide_orr else prop.estimate,
        "iorr_lower": nan if hide_orr else prop.lower,
        "iorr_upper": nan if hide_orr else prop.upper,
        "n_fas": len(in_fas), "ipfs_events": events,
        "ipfs_median": nan if hide_km or km is None else km.median,
        "ipfs_lower": nan if hide_km or km is None else km.median_lower,
        "ipfs_upper": nan if hide_km or km is None else km.median_upper,
        "flag": "; ".join(flags),
    }
