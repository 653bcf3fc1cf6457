"""Efficacy and safety analyses of SG-BM-RWS: pure functions from the tidy tables to results.

The report calls one function::

    from sgbm_redcap.analysis import analyse_study
    results = analyse_study(tables, cutoff="2025-06-30")   # -> StudyResults

and a statistician can call the pieces from a notebook (see docs/analysis.md)::

    from sgbm_redcap.analysis import (clopper_pearson, fit_km, reverse_km_followup,
        cumulative_incidence, best_overall_response, BorRules, rano_timepoints,
        analysis_sets, derive_endpoints, exposure, adverse_events, teae_by_term)

``tables`` may be a ``StudyTables`` (its ``.raw`` codes are used), a flat export DataFrame or
a mapping form name → DataFrame; see :mod:`sgbm_redcap.analysis.inputs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sgbm_redcap.analysis.baseline import baseline_table
from sgbm_redcap.analysis.bor import BorRules, best_overall_response
from sgbm_redcap.analysis.endpoints import (
    EndpointRules,
    apply_cutoff,
    derive_endpoints,
    response_dates,
)
from sgbm_redcap.analysis.exposure import exposure, exposure_summary
from sgbm_redcap.analysis.inputs import StudyData, prepare
from sgbm_redcap.analysis.labs import LAB_PARAMETERS, baseline_lab_grade, lab_shifts
from sgbm_redcap.analysis.proportions import Proportion, clopper_pearson
from sgbm_redcap.analysis.rano import rano_timepoints
from sgbm_redcap.analysis.recist import recist_timepoints
from sgbm_redcap.analysis.safety import (
    adverse_events,
    aesi_summary,
    gcsf_use,
    max_grade_per_term,
    teae_by_term,
    teae_overview,
)
from sgbm_redcap.analysis.sets import analysis_sets
from sgbm_redcap.analysis.subgroups import subgroup_estimates, subgroup_membership
from sgbm_redcap.analysis.survival import (
    HazardRatio,
    KMResult,
    Landmark,
    cox_hazard_ratio,
    cumulative_incidence,
    fit_km,
    fmt_pct,
    fmt_time,
    reverse_km_followup,
)
from sgbm_redcap.study_codes import DAYS_PER_MONTH, AssessmentType

logger = logging.getLogger(__name__)

__all__ = [
    "DAYS_PER_MONTH", "LAB_PARAMETERS", "AnalysisOptions", "BorRules", "EndpointRules",
    "HazardRatio", "KMResult", "Landmark", "Proportion", "StudyResults", "adverse_events", "aesi_summary", "analyse_study",
    "analysis_sets", "baseline_lab_grade", "baseline_table", "best_overall_response", "clopper_pearson",
    "cox_hazard_ratio", "cumulative_incidence", "derive_endpoints", "exposure", "exposure_summary", "fit_km",
    "fmt_pct", "fmt_time", "gcsf_use", "lab_shifts", "max_grade_per_term", "prepare", "rano_timepoints",
    "recist_timepoints", "reverse_km_followup", "subgroup_estimates", "subgroup_membership",
    "teae_by_term", "teae_overview",
]


@dataclass(frozen=True)
class AnalysisOptions:
    """Pre-specified choices; the defaults are the primary analysis of the SAP draft."""

    baseline_window_days: int = 28
    bor_rules: BorRules = BorRules()
    endpoint_rules: EndpointRules = EndpointRules()
    cbr_weeks: int = 24
    #: candidate landmark times; the report shows those with follow-up (StudyResults.landmark_months)
    landmark_months: tuple[float, ...] = (3.0, 6.0, 12.0)
    median_rule: str = "midpoint"
    min_patients: int = 10
    min_events: int = 5
    suppress_small_subgroups: bool = True


@dataclass
class StudyResults:
    """Everything the interim report shows. Times are in months unless a name says days."""

    cutoff: pd.Timestamp | None
    options: AnalysisOptions
    sets: pd.DataFrame
    set_counts: dict[str, int]
    intracranial_timepoints: pd.DataFrame
    extracranial_timepoints: pd.DataFrame
    bor_intracranial: pd.DataFrame
    bor_extracranial: pd.DataFrame
    proportions: dict[str, Proportion]
    endpoints: pd.DataFrame
    km: dict[str, KMResult | None]
    landmarks: pd.DataFrame
    #: the candidate landmark months at which at least one endpoint's rate is estimable
    landmark_months: tuple[float, ...]
    followup: KMResult | None
    cumulative_incidence_ipd: pd.DataFrame | None
    subgroups: pd.DataFrame
    baseline: pd.DataFrame
    exposure: pd.DataFrame
    exposure_summary: pd.DataFrame
    adverse_events: pd.DataFrame
    teae_overview: pd.DataFrame
    teae_by_term: pd.DataFrame
    aesi: pd.DataFrame
    gcsf: pd.DataFrame
    lab_shifts: pd.DataFrame
    response_discordance: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def analyse_study(tables: Any, cutoff: Any = None, *,
                  options: AnalysisOptions = AnalysisOptions()) -> StudyResults:
    """Run every derivation and statistic of the interim report on data up to ``cutoff``."""
    cut = pd.Timestamp(cutoff) if cutoff is not None else None
    study = apply_cutoff(prepare(tables), cut)
    sets = analysis_sets(study, baseline_window_days=options.baseline_window_days)
    ids = {name: sets.loc[sets[name], "record_id"].tolist() for name in ("safety", "fas", "ires")}
    origin = sets.set_index("record_id")["sg_start_date"]
    source = options.endpoint_rules.response_source
    ia_tp = rano_timepoints(study, origin)
    ea_tp = recist_timepoints(study, origin)
    fas_origin = origin[origin.index.isin(ids["fas"])]
    bor_ia = _bor_table(ia_tp, fas_origin, study, options, source, intracranial=True)
    ea_measurable = _extracranial_measurable(study, ids["fas"])
    bor_ea = _bor_table(ea_tp, origin[origin.index.isin(ea_measurable)], study, options,
                        source, intracranial=False)
    props = _proportions(bor_ia, bor_ea, ids["ires"], ea_measurable)
    responders = response_dates(ia_tp, bor_ia.rename(columns={"record_id": "subject",
                                                              "confirmed": "response"}),
                                source)
    endpoints = derive_endpoints(study, rules=options.endpoint_rules, responders=responders,
                                 cutoff=cut, timepoints=(ia_tp, ea_tp))
    km, landmarks = _survival(endpoints, ids["fas"], options)
    os_fas = _endpoint(endpoints, "os", ids["fas"])
    followup = (reverse_km_followup(os_fas["months"], os_fas["event"],
                                    median_rule=options.median_rule)
                if len(os_fas) else None)
    ipfs_fas = _endpoint(endpoints, "ipfs", ids["fas"])
    cif = (cumulative_incidence(ipfs_fas["months"], ipfs_fas["event_type"],
                                times=options.landmark_months) if len(ipfs_fas) else None)
    subgroups = subgroup_estimates(
        subgroup_membership(study),
        bor_ia.rename(columns={"confirmed": "response"}), ids["ires"], ipfs_fas, ids["fas"],
        min_patients=options.min_patients, min_events=options.min_events,
        suppress=options.suppress_small_subgroups)
    exp = exposure(study)
    exp = exp[exp["record_id"].isin(ids["safety"])].reset_index(drop=True)
    ae = adverse_events(study, population=ids["safety"])
    n_safety = len(ids["safety"])
    return StudyResults(
        cutoff=cut, options=options, sets=sets,
        set_counts={"records": len(sets), **{k: len(v) for k, v in ids.items()}},
        intracranial_timepoints=ia_tp, extracranial_timepoints=ea_tp,
        bor_intracranial=bor_ia, bor_extracranial=bor_ea, proportions=props,
        endpoints=endpoints, km=km, landmarks=landmarks,
        landmark_months=_estimable_months(landmarks, options.landmark_months), followup=followup,
        cumulative_incidence_ipd=cif, subgroups=subgroups,
        baseline=baseline_table(study, ids["fas"]), exposure=exp,
        exposure_summary=exposure_summary(exp), adverse_events=ae,
        teae_overview=teae_overview(ae, n_safety), teae_by_term=teae_by_term(ae, n_safety),
        aesi=aesi_summary(ae, n_safety), gcsf=gcsf_use(study, ids["safety"]),
        lab_shifts=lab_shifts(study, ae, ids["safety"]),
        response_discordance=pd.crosstab(ia_tp["response_investigator"].fillna("missing"),
                                          ia_tp["response_derived"].fillna("missing")),
        notes=_notes(options),
    )


def _bor_table(tp: pd.DataFrame, origin: pd.Series, study: StudyData,
               options: AnalysisOptions, source: str, *, intracranial: bool) -> pd.DataFrame:
    column = "response_investigator" if source == "investigator" else "response_derived"
    frame = tp[tp["record_id"].isin(origin.index)]
    assessments = pd.DataFrame({"subject": frame["record_id"], "date": frame["date"],
                                "response": frame[column]})
    pd_dates = assessments[assessments["response"] == "PD"].groupby("subject")["date"].min()
    fu = study["follow_up"].drop_duplicates("record_id").set_index("record_id")
    recorded = fu["ipd_date" if intracranial else "epd_date"].dropna()
    # a progression recorded without a PD scan (e.g. clinical PD) is a PD time point too
    recorded = recorded[recorded.index.isin(origin.index)]
    unscanned = recorded[~recorded.index.isin(pd_dates.index)
                         | (recorded < recorded.index.map(pd_dates).to_numpy())]
    if len(unscanned):
        extra = pd.DataFrame({"subject": unscanned.index, "date": unscanned.to_numpy(),
                              "response": "PD"})
        assessments = pd.concat([assessments, extra], ignore_index=True)
    pd_dates = pd.concat([pd_dates, recorded]).groupby(level=0).min()
    rules = options.bor_rules
    args = {"pd_dates": pd_dates, "rules": rules}
    confirmed = best_overall_response(assessments, origin, **args)
    unconfirmed = best_overall_response(assessments, origin, confirmed=False, **args)
    cbr_rules = BorRules(**{**rules.__dict__, "ref_start_window": 7 * options.cbr_weeks})
    benefit = best_overall_response(assessments, origin, rules=cbr_rules, pd_dates=pd_dates)
    until_pd = frame["date"] <= frame["record_id"].map(pd_dates).fillna(pd.Timestamp.max)
    best_change = frame[until_pd].groupby("record_id")["pct_from_baseline"].min()
    return pd.DataFrame({
        "record_id": confirmed["subject"], "confirmed": confirmed["response"],
        "confirmed_date": confirmed["date"], "unconfirmed": unconfirmed["response"],
        "unconfirmed_date": unconfirmed["date"], "clinical_benefit": benefit["response"],
        "best_pct_change": confirmed["subject"].map(best_change),
    })


def _extracranial_measurable(study: StudyData, fas: list[str]) -> list[str]:
    ea = study["extracranial_assessment"]
    base = ea[(ea["ea_type"] == AssessmentType.BASELINE) & ea["record_id"].isin(fas)]
    lesions = base[[f"ea_tl{i}_ld" for i in range(1, 6)]]
    return sorted(set(base.loc[(lesions >= 10).any(axis=1), "record_id"]))


def _proportions(bor_ia: pd.DataFrame, bor_ea: pd.DataFrame, ires: list[str],
                 ea_measurable: list[str]) -> dict[str, Proportion]:
    ia = bor_ia[bor_ia["record_id"].isin(ires)]
    ea = bor_ea[bor_ea["record_id"].isin(ea_measurable)]
    resp, ctrl = ("CR", "PR"), ("CR", "PR", "SD", "NON-CR/NON-PD")

    def rate(frame: pd.DataFrame, column: str, values: tuple) -> Proportion:
        return clopper_pearson(int(frame[column].isin(values).sum()), len(frame))

    return {
        "iORR_confirmed": rate(ia, "confirmed", resp),
        "iORR_unconfirmed": rate(ia, "unconfirmed", resp),
        "iDCR": rate(ia, "confirmed", ctrl),
        "iCBR": rate(ia, "clinical_benefit", ctrl),
        "ORR_confirmed": rate(ea, "confirmed", resp),
        "ORR_unconfirmed": rate(ea, "unconfirmed", resp),
        "CBR": rate(ea, "clinical_benefit", ctrl),
    }


def _endpoint(endpoints: pd.DataFrame, name: str, population: list[str]) -> pd.DataFrame:
    rows = endpoints[(endpoints["endpoint"] == name)]
    if name != "idor":
        rows = rows[rows["record_id"].isin(population)]
    return rows.reset_index(drop=True)


def _survival(endpoints: pd.DataFrame, fas: list[str], options: AnalysisOptions
              ) -> tuple[dict[str, KMResult | None], pd.DataFrame]:
    km: dict[str, KMResult | None] = {}
    marks = []
    for name in ("ipfs", "pfs", "os", "idor"):
        frame = _endpoint(endpoints, name, fas)
        if frame.empty:
            km[name] = None
            continue
        fit = fit_km(frame["months"], frame["event"], label=name,
                     median_rule=options.median_rule)
        km[name] = fit
        for month in options.landmark_months:
            mark = fit.landmark(month)
            marks.append({"endpoint": name, "months": month, "survival": mark.survival,
                          "lower": mark.lower, "upper": mark.upper, "at_risk": mark.at_risk,
                          "reason": mark.reason})
    return km, pd.DataFrame(marks, columns=["endpoint", "months", "survival", "lower", "upper",
                                            "at_risk", "reason"])


def _estimable_months(landmarks: pd.DataFrame, candidates: tuple[float, ...],
                      ) -> tuple[float, ...]:
    """The landmark times the follow-up reaches: estimable for at least one endpoint."""
    ok = landmarks.loc[landmarks["reason"] == "", "months"]
    return tuple(m for m in candidates if (ok == m).any())


def _notes(options: AnalysisOptions) -> list[str]:
    r = options.bor_rules
    return [
        f"Months = days / {DAYS_PER_MONTH}; SG start is day 1.",
        "Kaplan-Meier: log-log pointwise 95% CI; median CI by Brookmeyer-Crowley; "
        f"median rule '{options.median_rule}'; NR = not reached; a landmark rate with no "
        "patient at risk (past the last observed time) is NE, not estimable.",
        "Proportions: two-sided 95% Clopper-Pearson (exact) CI.",
        f"Confirmed response: a second CR/PR ≥ {r.ref_confirm} days later, with at most "
        f"{r.max_nr_ne} NE assessment between; SD needs an assessment ≥ {r.ref_start_window} "
        "days after SG start.",
        f"FAS baseline brain imaging window: {options.baseline_window_days} days before SG.",
        f"Responses from the {options.endpoint_rules.response_source} time-point call.",
    ]
