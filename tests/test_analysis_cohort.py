"""On the synthetic cohort: iORR and median iPFS recomputed by an independent simple route
from the typed (label-valued) tables agree with the package, which reads the raw codes."""

import numpy as np
import pandas as pd
import pytest

from sgbm_redcap.analysis import AnalysisOptions, EndpointRules, analyse_study

cohort_mod = pytest.importorskip("sgbm_redcap.synthetic.cohort")
source_mod = pytest.importorskip("sgbm_redcap.source")
project_mod = pytest.importorskip("sgbm_redcap.dictionary.project")

SIMPLE = AnalysisOptions(endpoint_rules=EndpointRules(max_gap_days=None,
                                                      censor_at_new_therapy=False))


@pytest.fixture(scope="module")
def cohort_tables():
    from pathlib import Path

    project = project_mod.load_project(Path(__file__).resolve().parents[1] / "redcap_project")
    cohort = cohort_mod.generate_cohort(n=60, seed=20240801, problem_rate=0.0)
    flat = cohort.to_frame(clean=True, dictionary=project.dictionary)
    tables = source_mod.build_tables(flat, project.dictionary,
                                     repeating_forms=project.repeating_forms,
                                     missing_codes=project.missing_codes)
    return tables, pd.Timestamp(cohort.extract_date)


@pytest.fixture(scope="module")
def results(cohort_tables):
    tables, cutoff = cohort_tables
    return analyse_study(tables, cutoff, options=SIMPLE)


def _simple_sets(t):
    """IRES by hand: eligible, ≥1 dose not omitted, baseline scan ≤28 days before SG start,
    a ≥10 mm target at baseline."""
    eligible = t["enrolment"].set_index("record_id")["eligible"].fillna(False).astype(bool)
    start = t["sg_treatment"].set_index("record_id")["sg_start_date"]
    adm = t["sg_administration"]
    dosed = set(adm.loc[adm["adm_status"].astype(str) != "Omitted", "record_id"])
    ia = t["intracranial_assessment"]
    base = ia[ia["ia_type"].astype(str) == "Baseline"].copy()
    base["start"] = base["record_id"].map(start)
    base = base[(base["ia_date"] <= base["start"])
                & ((base["start"] - base["ia_date"]).dt.days <= 28)]
    base = base.sort_values("ia_date").groupby("record_id").tail(1)
    lesions = base[[f"ia_tl{i}_ld" for i in range(1, 6)]].astype(float)
    fas = {r for r in base["record_id"] if eligible.get(r, False) and r in dosed}
    ires = set(base.loc[(lesions >= 10).any(axis=1).to_numpy(), "record_id"]) & fas
    return fas, ires, start


def _followups(t, cutoff):
    ia = t["intracranial_assessment"]
    fu = ia[(ia["ia_type"].astype(str) == "Follow-up") & (ia["ia_date"] <= cutoff)]
    return fu.assign(resp=fu["ia_rano_inv"].astype(str)).sort_values("ia_date")


def test_iorr_unconfirmed_by_hand(cohort_tables, results):
    t, cutoff = cohort_tables
    fas, ires, start = _simple_sets(t)
    fu = _followups(t, cutoff)
    responders = set()
    for rid, scans in fu.groupby("record_id"):
        scans = scans[scans["ia_date"] > start[rid]]
        pd_at = scans.loc[scans["resp"] == "PD", "ia_date"].min()
        upto = scans if pd.isna(pd_at) else scans[scans["ia_date"] <= pd_at]
        if upto["resp"].isin(["CR", "PR"]).any():
            responders.add(rid)
    prop = results.proportions["iORR_unconfirmed"]
    assert results.set_counts["ires"] == len(ires)
    assert (prop.x, prop.n) == (len(responders & ires), len(ires))
    assert len(ires) >= 30 and prop.x >= 3  # the cohort is big enough to mean something


def _km_median(times, events):
    """Plain product-limit median: first time S(t) <= 0.5 (with R's midpoint on a plateau
    at exactly 0.5)."""
    s, prev = 1.0, None
    order = np.unique(times)
    for tt in order:
        n = (times >= tt).sum()
        d = ((times == tt) & (events == 1)).sum()
        if d == 0:
            continue
        s *= 1 - d / n
        if abs(s - 0.5) < 1e-12:
            prev = tt
            continue
        if prev is not None:
            return (prev + tt) / 2
        if s < 0.5:
            return tt
    return np.inf if prev is None else prev


def test_median_ipfs_by_hand(cohort_tables, results):
    t, cutoff = cohort_tables
    fas, ires, start = _simple_sets(t)
    fu = _followups(t, cutoff)
    follow = t["follow_up"].set_index("record_id")
    durations, events = [], []
    for rid in sorted(fas):
        scans = fu[(fu["record_id"] == rid) & (fu["ia_date"] > start[rid])]
        first_pd = scans.loc[scans["resp"] == "PD", "ia_date"].min()
        ipd = follow.loc[rid, "ipd_date"]
        ipd = ipd if pd.notna(ipd) and ipd <= cutoff else pd.NaT
        dead = str(follow.loc[rid, "vital_status"]) == "Dead"
        death = follow.loc[rid, "death_date"] if dead else pd.NaT
        death = death if pd.notna(death) and death <= cutoff else pd.NaT
        candidates = [d for d in (first_pd, ipd, death) if pd.notna(d)]
        if candidates:
            end, event = min(candidates), 1
        else:
            adequate = scans[scans["resp"].isin(["CR", "PR", "SD", "PD", "Non-CR/non-PD"])]
            end = adequate["ia_date"].max() if len(adequate) else start[rid]
            event = 0
        durations.append(((end - start[rid]).days + 1) / 30.4375)
        events.append(event)
    durations, events = np.array(durations), np.array(events)
    km = results.km["ipfs"]
    assert (km.n, km.events) == (len(fas), int(events.sum()))
    assert km.median == pytest.approx(_km_median(durations, events), abs=1e-9)
    assert np.isfinite(km.median) and km.median_lower <= km.median <= km.median_upper


def test_primary_rules_differ_from_the_simple_route_only_by_censoring(cohort_tables, results):
    tables, cutoff = cohort_tables
    primary = analyse_study(tables, cutoff)
    assert primary.km["ipfs"].events <= results.km["ipfs"].events
    assert primary.set_counts == results.set_counts
    reasons = primary.endpoints.query("endpoint == 'ipfs'")["reason"]
    assert reasons.str.startswith("censored").sum() + primary.km["ipfs"].events == len(reasons)


def test_typed_label_tables_read_like_the_raw_codes(cohort_tables):
    """The typed tables (label Categoricals, booleans, Float64) without the raw export give
    the same sets, time points and AE flags as the raw codes."""
    from sgbm_redcap.analysis import adverse_events, analysis_sets, rano_timepoints

    tables, _ = cohort_tables
    typed = {form: tables[form] for form in tables}           # a plain mapping: no .raw
    pd.testing.assert_frame_equal(analysis_sets(typed), analysis_sets(tables))
    pd.testing.assert_frame_equal(rano_timepoints(typed), rano_timepoints(tables))
    a, b = adverse_events(typed), adverse_events(tables)
    assert a["teae"].tolist() == b["teae"].tolist() and a["grade"].tolist() == b["grade"].tolist()
