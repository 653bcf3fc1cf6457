"""The monthly report's added sections on the synthetic cohort: each definition pinned by an
independent count from the raw export (or from the analysis' own per-patient tables where
the definition under test is the aggregation)."""

from __future__ import annotations

from datetime import date
from html import unescape

import pandas as pd
import pytest
from report_world import seeded_export, study_tables

from sgbm_redcap.analysis import analyse_study
from sgbm_redcap.analysis.endpoints import apply_cutoff
from sgbm_redcap.analysis.flow import follow_up_end
from sgbm_redcap.analysis.outcomes import (
    dose_intensity_by_cycle,
    first_progression_pattern,
    os_by_subgroup,
    time_on_treatment,
    time_to_response,
)
from sgbm_redcap.analysis.safety import AESI_TERMS
from sgbm_redcap.analysis.sensitivity import (
    imaging_intervals,
    interval_summary,
    rt_sensitivity,
)
from sgbm_redcap.analysis.soc import GRADE_BANDS, aesi_table, teae_by_soc
from sgbm_redcap.dictionary.ctcae import CTCAE_SOC
from sgbm_redcap.reports.monthly import build_monthly_context

CUTOFF = date(2026, 10, 31)
CUT = pd.Timestamp(CUTOFF)


@pytest.fixture(scope="module")
def world():
    project, raw = seeded_export()
    return project, raw, study_tables(project, raw)


@pytest.fixture(scope="module")
def results(world):
    return analyse_study(world[2], cutoff=CUTOFF)


@pytest.fixture(scope="module")
def study(world):
    return apply_cutoff(world[2], CUTOFF)


@pytest.fixture(scope="module")
def context(world):
    project, _, tables = world
    return build_monthly_context(tables, cutoff=CUTOFF, dags=project.dags, project=project)


def _rows(raw: pd.DataFrame, form: str) -> pd.DataFrame:
    return raw[raw["redcap_repeat_instrument"] == form]


def _base(raw: pd.DataFrame) -> pd.DataFrame:
    return raw[raw["redcap_repeat_instrument"] == ""].set_index("record_id")


def _ids(results, name: str) -> list[str]:
    return results.sets.loc[results.sets[name], "record_id"].tolist()


def test_every_new_block_is_in_its_section(context):
    where = {"study-status": ["fig-flow"], "exposure": ["dose-by-cycle", "fig-km-tot"],
             "efficacy": ["first-pd-pattern", "time-to-response", "imaging-intervals",
                          "rt-sensitivity", "subgroup-os"],
             "safety": ["teae-by-soc", "aesi"]}
    for section, blocks in where.items():
        for block in blocks:
            assert context.section(section).find(block) is not None, block


def test_flow_figure_shows_the_flow_counts(context, results):
    svg = unescape(str(context.find("fig-flow").svg)).replace("\xa0", " ")
    assert f"Treated with SG (n = {results.set_counts['safety']})" in svg
    # a long label wraps inside its box: its words and its count are there
    assert "Response-evaluable set" in svg and f"(n = {results.set_counts['ires']})" in svg


def test_soc_of_each_term_comes_from_the_term_list_and_grades_add_up(results, world):
    ae = results.adverse_events
    by_soc = teae_by_soc(ae)
    bands = [c for c, _, _ in GRADE_BANDS]
    assert (by_soc[bands].sum(axis=1) + by_soc["n_grade_missing"] == by_soc["n_any"]).all()
    teae = ae[ae["teae"]]
    gi = [code for code, soc in CTCAE_SOC.items() if soc == "Gastrointestinal disorders"]
    hit = teae[teae["ae_term"].isin(gi)]
    row = by_soc[(by_soc["soc"] == "Gastrointestinal disorders") & (by_soc["term"] == "")]
    assert int(row["n_any"].iloc[0]) == hit["record_id"].nunique() > 0
    worst = hit.groupby("record_id")["grade"].max()
    assert int(row["n_g3"].iloc[0]) == int((worst == 3).sum())
    assert int(row["n_g12"].iloc[0]) == int(worst.isin([1, 2]).sum())
    # every term row sits under the SOC its code has in the term list
    for r in by_soc[by_soc["term"] != ""].itertuples():
        codes = set(teae.loc[teae["pooled_term"] == r.term, "ae_term"]) & set(CTCAE_SOC)
        assert all(CTCAE_SOC[c] == r.soc for c in codes), r.term


def test_every_prespecified_aesi_is_a_row_even_with_no_patient(results):
    ae = results.adverse_events
    n = results.set_counts["safety"]
    table = aesi_table(ae, n, results.cutoff).set_index("aesi")
    assert set(AESI_TERMS) <= set(table.index)
    teae = ae[ae["teae"]]
    diarrhea = teae[teae["pooled_term"].str.lower() == "diarrhea"]
    assert table.loc["Diarrhea", "n"] == diarrhea["record_id"].nunique()
    end = pd.to_datetime(diarrhea["ae_end_date"])
    assert table.loc["Diarrhea", "resolved"] == int((end <= CUT).sum())
    assert table.loc["Diarrhea", "episodes"] == len(diarrhea)
    none = ae.iloc[0:0]
    empty = aesi_table(none.assign(teae=pd.Series(dtype=bool)), n, results.cutoff)
    assert list(empty["aesi"]) == list(AESI_TERMS) and (empty["n"] == 0).all()


def test_first_progression_pattern_counts_the_fas_from_the_raw_export(study, results, world):
    fas = _ids(results, "fas")
    pattern = first_progression_pattern(study, fas)
    assert int(pattern["n"].sum()) == len(fas)
    base = _base(world[1]).loc[fas]
    dated = [pd.to_datetime(base[c].replace("", None)) for c in ("ipd_date", "epd_date")]
    progressed = (dated[0] <= CUT) | (dated[1] <= CUT)
    intracranial_only = int((progressed & (base["first_pd_pattern"] == "1")).sum())
    got = pattern.set_index("pattern")["n"]
    assert got["Intracranial only"] == intracranial_only > 0
    assert int(pattern.loc[pattern["progressed"], "n"].sum()) == int(progressed.sum())


def test_time_to_response_is_among_the_confirmed_responders(results):
    ttr = time_to_response(results)
    assert len(ttr) == results.proportions["iORR_confirmed"].x
    assert (ttr["months"] > 0).all()


def test_os_by_subtype_counts_the_fas_by_the_subtype_field(study, results, world):
    est = os_by_subgroup(study, results)
    sub = est[est["subgroup"] == "Subtype"].set_index("level")
    base = _base(world[1]).loc[_ids(results, "fas")]
    assert sub.loc["TNBC", "n_fas"] == int((base["subtype_sg"] == "2").sum())
    assert sub.loc["HR+/HER2−", "n_fas"] == int((base["subtype_sg"] == "1").sum())
    dead = (base["vital_status"] == "2") & (pd.to_datetime(base["death_date"].replace(
        "", None)) <= CUT)
    assert sub.loc["TNBC", "os_events"] == int((dead & (base["subtype_sg"] == "2")).sum())


def test_time_on_treatment_events_are_the_patients_who_stopped(results, world):
    frame, km = time_on_treatment(results.exposure, results.cutoff)
    base = _base(world[1]).loc[_ids(results, "safety")]
    stopped = (base["eot_reason"] != "") & (base["eot_ongoing"] != "1")
    assert km.events == int(stopped.sum()) and km.n == len(base)


def test_dose_intensity_of_cycle_one_from_the_raw_administrations(study, results, world):
    safety = _ids(results, "safety")
    by_cycle = dose_intensity_by_cycle(study, safety).set_index("cycle")
    adm = _rows(world[1], "sg_administration")
    adm = adm[adm["record_id"].isin(safety) & (adm["adm_cycle"] == "1")
              & adm["adm_status"].isin(["1", "2"])
              & (pd.to_datetime(adm["adm_date"].replace("", None)) <= CUT)]
    assert by_cycle.loc["1", "patients"] == adm["record_id"].nunique()
    mg = adm["adm_dose_level"].map({"1": 10.0, "2": 7.5, "3": 5.0}).fillna(0.0)
    rdi = mg.groupby(adm["record_id"]).sum() / 20.0
    assert by_cycle.loc["1", "rdi_median"] == pytest.approx(rdi.median())
    # below the starting dose: a dose given at a lower level than the patient's first one
    ordered = adm.assign(d=pd.to_datetime(adm["adm_date"]), mg=mg).sort_values("d")
    first = ordered.groupby("record_id")["mg"].first()
    below = ordered[ordered["mg"] < ordered["record_id"].map(first)]
    assert by_cycle.loc["1", "reduced"] == below["record_id"].nunique()


def test_imaging_intervals_count_consecutive_scans_per_fas_patient(results, world):
    fas = _ids(results, "fas")
    summary = interval_summary(imaging_intervals(results))
    total = summary[summary["site"].isna()].iloc[0]
    ia = _rows(world[1], "intracranial_assessment")
    ia = ia[ia["record_id"].isin(fas) & (ia["ia_date"] != "")]
    dates = pd.to_datetime(ia["ia_date"])
    base = results.sets.set_index("record_id")["baseline_scan_date"]
    keep = (dates <= CUT) & (dates >= ia["record_id"].map(base))
    # the baseline scan counts as a scan also when only the baseline form dates it
    per = pd.concat([pd.DataFrame({"r": ia["record_id"], "d": dates})[keep],
                     pd.DataFrame({"r": fas, "d": base.reindex(fas).to_numpy()}).dropna()]
                    ).drop_duplicates()
    expected = int((per.groupby("r").size() - 1).clip(lower=0).sum())
    assert total["intervals"] == expected
    bands = summary.columns[-4:]
    assert (summary[bands].sum(axis=1) == summary["intervals"]).all()


def test_cohort_has_patients_irradiated_within_4_weeks_and_the_analysis_splits_them(
        study, results, world):
    raw = world[1]
    cns = _rows(raw, "prior_cns_therapy")
    rt = cns[cns["cns_type"].isin(["2", "3", "4", "5"])]
    when = pd.to_datetime(rt["cns_end_date"].where(rt["cns_end_date"] != "",
                                                   rt["cns_start_date"]).replace("", None))
    last = when.groupby(rt["record_id"]).max()
    start = pd.to_datetime(_base(raw)["sg_start_date"].replace("", None))
    recent = {r for r, d in last.items() if pd.notna(start.get(r))
              and (start[r] - d).days < 28}
    fas = set(_ids(results, "fas"))
    assert len(recent & fas) >= 5
    sens = rt_sensitivity(study, results).set_index("analysis")
    alone = sens.loc["Brain radiotherapy < 4 weeks before SG only"]
    without = sens.loc["Excluding brain radiotherapy < 4 weeks before SG"]
    assert alone["n_fas"] == len(recent & fas)
    assert alone["n_fas"] + without["n_fas"] == sens.iloc[0]["n_fas"]
    assert alone["n_ires"] + without["n_ires"] == sens.iloc[0]["n_ires"]


def test_end_of_follow_up_adds_up_to_the_safety_set(study, results, world):
    safety = _ids(results, "safety")
    rows = follow_up_end(study, results.endpoints, safety, results.cutoff)
    top = [k for _, k, sub in rows if not sub]
    assert sum(top) == len(safety)
    assert rows[3][1] + rows[4][1] == rows[2][1]
    base = _base(world[1]).loc[safety]
    dead = (base["vital_status"] == "2") & (pd.to_datetime(base["death_date"].replace(
        "", None)) <= CUT)
    assert rows[0] == ("Died", int(dead.sum()), False)
    lost = ~dead & (base["vital_status"] == "3")
    assert rows[1] == ("Lost to follow-up", int(lost.sum()), False)


def test_sae_listing_shows_day_seriousness_and_action_from_the_raw_form(context, world,
                                                                        results):
    listing = context.find("listing-sae")
    assert listing.columns[4:8] == ["Onset", "Day", "Seriousness", "Action with SG"]
    raw = world[1]
    ae = _rows(raw, "adverse_events")
    ae = ae[(ae["ae_serious"] == "1") & ae["record_id"].isin(_ids(results, "safety"))]
    labels = world[0].dictionary.field("ae_sae_criteria").choices
    actions = world[0].dictionary.field("ae_action").choices
    first = pd.to_datetime(_rows(raw, "sg_administration").query(
        "adm_status in ['1', '2'] and adm_date != ''").groupby("record_id")["adm_date"].min())
    expected = set()
    for r in ae.itertuples():
        ticked = [label for code, label in labels.items()
                  if getattr(r, f"ae_sae_criteria___{code}") == "1"]
        day = (pd.Timestamp(r.ae_onset_date) - first[r.record_id]).days + 1
        expected.add((r.record_id, r.ae_onset_date, str(day),
                      "; ".join(ticked) or "Not recorded", actions.get(r.ae_action,
                                                                     "Not recorded")))
    shown = {(row[0], row[4], row[5], row[6], row[7]) for row in listing.rows}
    assert shown and shown <= expected


def test_death_listing_flags_deaths_within_30_days_of_the_last_dose(context, results):
    listing = context.find("listing-deaths")
    col = listing.columns.index("Within 30 days of last dose")
    days = listing.columns.index("Days after last dose")
    flagged = [r for r in listing.rows if r[col] == "Yes"]
    assert flagged and all(int(r[days]) <= 30 for r in flagged)
    assert all(r[days] == "–" or int(r[days]) > 30 for r in listing.rows if r[col] == "No")


def test_baseline_by_subtype_counts_each_column_from_the_raw_export(context, results, world):
    table = context.find("baseline-table")
    base = _base(world[1]).loc[_ids(results, "fas")]
    tnbc = base[base["subtype_sg"] == "2"]
    hr = base[base["subtype_sg"] == "1"]
    assert table.columns[1:] == [f"FAS (N = {len(base)})", f"HR+/HER2− (N = {len(hr)})",
                                 f"TNBC (N = {len(tnbc)})"]
    rows = {r[0].strip(): r for r in table.rows}
    # prior CDK4/6 inhibitor: any prior systemic line with the agent ticked, per column
    sys = _rows(world[1], "prior_systemic_therapy")
    cdk = set(sys.loc[sys["sys_agents___11"] == "1", "record_id"])
    at = [i for i, r in enumerate(table.rows) if r[0] == "Prior CDK4/6 inhibitor"][0]
    yes = table.rows[at + 1]
    assert yes[0].strip() == "Yes"
    for cell, frame in zip(yes[1:], (base, hr, tnbc), strict=True):
        assert cell.startswith(f"{len(set(frame.index) & cdk)} (")
    # prior metastatic lines add up to each column
    at = [i for i, r in enumerate(table.rows) if r[0] == "Prior metastatic lines"][0]
    counts = [[int(c.split(" ")[0]) for c in r[1:]] for r in table.rows[at + 1:at + 5]]
    assert [sum(c) for c in zip(*counts, strict=True)] == [len(base), len(hr), len(tnbc)]
    assert "Local CNS therapy before SG (a patient may have several)" in rows
