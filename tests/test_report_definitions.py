"""The monthly report's definitions pinned on the seeded 100-patient cohort: completeness
denominators, dose reductions against the start dose, and the cross-form checks that keep
the safety counts consistent."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import pandas as pd
from analysis_world import World
from checks_fixtures import clean_patient, flat
from report_world import seeded_export, study_tables

from sgbm_redcap.analysis import analyse_study
from sgbm_redcap.analysis.exposure import exposure, reduced_steps
from sgbm_redcap.analysis.safety import overview_gaps
from sgbm_redcap.checks import REGISTRY, run_checks
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.reports.monthly_clinical import exposure_section, overview_footnote
from sgbm_redcap.reports.quality import completeness
from sgbm_redcap.source import build_tables


@lru_cache(maxsize=1)
def _world():
    project, raw = seeded_export()
    return project, raw, study_tables(project, raw)


def _by_form(raw, project):
    comp, skipped = completeness(raw, project.dictionary, project.repeating_forms,
                                 expected=project.expected_forms)
    assert skipped == 0
    return comp.groupby("form")[["expected", "filled"]].sum()


# --------------------------------------------------------------------------- completeness
def test_brain_mets_completeness_equals_an_independent_count():
    project, raw, _ = _world()
    base = raw[raw["redcap_repeat_instrument"] == ""]
    eligible = base[base["eligible"] == "1"]
    assert len(eligible) < len(base)  # the cohort has screen failures
    required = [f for f in project.dictionary.form_fields("brain_mets_baseline")
                if f.required and f.field_type != "checkbox"]
    # written out by hand: the one conditional required field of the form
    assert [(f.name, f.branching_logic) for f in required if f.branching_logic] == [
        ("steroid_dex_mg", "[steroid_at_start] = '1'")]
    expected = filled = 0
    for f in required:
        rows = eligible[eligible["steroid_at_start"] == "1"] if f.name == "steroid_dex_mg" \
            else eligible
        expected += len(rows)
        filled += int((rows[f.name] != "").sum())
    got = _by_form(raw, project).loc["brain_mets_baseline"]
    assert (int(got["expected"]), int(got["filled"])) == (expected, filled)


def test_administration_completeness_equals_an_independent_count():
    project, raw, _ = _world()
    base = raw[raw["redcap_repeat_instrument"] == ""]
    treated = set(base.loc[(base["eligible"] == "1") & (base["sg_start_date"] != ""),
                           "record_id"])
    adm = raw[(raw["redcap_repeat_instrument"] == "sg_administration")
              & raw["record_id"].isin(treated)]
    st = adm["adm_status"]
    shown = {"adm_dose_level": st != "3", "adm_delay_days": st == "2",
             "adm_delay_reason": (st == "2") | (st == "3")}
    expected = filled = 0
    for f in project.dictionary.form_fields("sg_administration"):
        if not f.required or f.field_type == "checkbox":
            continue
        mask = shown.get(f.name, pd.Series(True, index=adm.index))
        expected += int(mask.sum())
        filled += int((mask & (adm[f.name] != "")).sum())
    got = _by_form(raw, project).loc["sg_administration"]
    assert (int(got["expected"]), int(got["filled"])) == (expected, filled)


def test_screen_failures_have_no_post_screening_forms_and_a_real_blank_shows():
    project, raw, _ = _world()
    before = _by_form(raw, project)
    for form in ("demographics", "tumour", "sg_treatment"):
        assert before.loc[form, "expected"] == before.loc[form, "filled"], form
    raw = raw.copy()
    base = raw.index[(raw["redcap_repeat_instrument"] == "") & (raw["eligible"] == "1")]
    raw.loc[base[0], "sex"] = ""          # one real blank of an eligible patient
    failures = raw.index[(raw["redcap_repeat_instrument"] == "") & (raw["eligible"] == "0")]
    raw.loc[failures, "sex"] = ""          # screen failures: not expected anyway
    after = _by_form(raw, project)
    assert after.loc["demographics", "expected"] == before.loc["demographics", "expected"]
    assert after.loc["demographics", "filled"] == before.loc["demographics", "filled"] - 1


# --------------------------------------------------------------------------- reductions
def test_reductions_are_counted_against_the_start_dose():
    assert reduced_steps([7.5, 7.5, 7.5], 7.5) == [False, False, False]
    assert reduced_steps([10, 7.5, 7.5, 5], 10) == [False, True, False, True]
    assert reduced_steps([7.5, 7.5], 10) == [True, False]  # below the recorded start
    assert reduced_steps([10, 5, 7.5], float("nan")) == [False, True, False]
    w = World()
    for rid, start, levels in (("1", "2", "22"), ("2", "1", "12")):
        w.add("enrolment", rid, eligible="1")
        w.add("sg_treatment", rid, sg_start_date="2024-01-01", sg_start_dose=start)
        for i, level in enumerate(levels):
            w.add("sg_administration", rid, adm_date=f"2024-01-{1 + 21 * i:02d}",
                  adm_cycle=i + 1, adm_day="1", adm_dose_level=level, adm_status="1")
    ex = exposure(w.tables()).set_index("record_id")
    assert not ex.loc["1", "reduced"] and ex.loc["1", "started_reduced"]
    assert ex.loc["2", "reduced"] and ex.loc["2", "n_reductions"] == 1


def test_reduction_rows_add_up_on_the_cohort():
    _, _, tables = _world()
    results = analyse_study(tables, cutoff=date(2026, 11, 30))
    rows = dict(exposure_section(results).blocks[0].rows)
    n = lambda label: int(rows[label].split()[0])  # noqa: E731
    assert n("≥ 1 dose reduction") == n("    reduced to 7.5 mg/kg") + n(
        "    reduced to 5 mg/kg")
    ex = results.exposure
    assert n("Started below 10 mg/kg") == int((ex["start_level_mg_per_kg"] < 10).sum()) > 0
    # a patient who started at 7.5 mg/kg and stayed there is not reduced
    stayed = ex[(ex["start_level_mg_per_kg"] == 7.5) & (ex["lowest_level_mg_per_kg"] == 7.5)]
    assert len(stayed) and not stayed["reduced"].any()


# --------------------------------------------------------------------------- safety counts
def test_overview_gaps_match_an_independent_count_and_are_footnoted():
    _, _, tables = _world()
    results = analyse_study(tables, cutoff=date(2026, 11, 30))
    ae = results.adverse_events
    teae = ae[ae["teae"]]
    ep = results.endpoints
    dead = set(ep.loc[(ep["endpoint"] == "os") & (ep["event"] == 1), "record_id"])
    g5 = teae[teae["grade"] == 5]
    reduced = set(results.exposure.loc[results.exposure["reduced"], "record_id"])
    want = {"reduction_not_given": len(set(teae.loc[teae["ae_action"] == "3", "record_id"])
                                       - reduced),
            "grade5_not_dead": len(set(g5["record_id"]) - dead),
            "grade5_not_serious": g5.loc[g5["ae_serious"] != "1", "record_id"].nunique()}
    assert overview_gaps(ae, results.exposure, dead) == want
    assert want["grade5_not_dead"] and want["grade5_not_serious"]  # the cohort has them
    note = overview_footnote(results)
    assert "Grade 5: 1 patient not recorded as dead" in note and "AE-4" in note


def _checked(rows):
    project = load_project("redcap_project")
    tables = build_tables(flat(rows), project.dictionary,
                          repeating_forms=project.repeating_forms)
    return run_checks(tables, cutoff="2024-12-01", dictionary=project.dictionary,
                      rules=REGISTRY.select(["AE-3", "AE-4", "FU-3"])).findings


def test_dose_reduced_for_an_ae_without_a_reduced_dose_is_queried():
    rows = clean_patient("1")  # 10, 10, then 7.5 mg/kg on 2024-03-22
    rows[-1].update(ae_action="3", ae_onset_date="2024-03-10")
    assert _checked(rows).empty  # the 7.5 mg/kg dose follows the AE
    rows[-1].update(ae_onset_date="2024-03-23")
    rows.append({**rows[1], "redcap_repeat_instance": "4", "adm_date": "2024-03-29",
                 "adm_cycle": "2", "adm_day": "8", "adm_dose_level": "2"})
    hit = _checked(rows)  # given again after the AE, not below 7.5
    assert list(zip(hit["rule_id"], hit["instance"], strict=True)) == [("AE-3", 1)]


def test_grade5_ae_not_serious_and_unclear_death_cause_are_queried():
    rows = clean_patient("1")
    rows[0].update(vital_status="2", death_date="2024-06-01", death_cause="9")
    rows[-1].update(ae_grade="5", ae_outcome="5", ae_serious="0")
    got = _checked(rows)
    assert sorted(got["rule_id"]) == ["AE-4", "FU-3"]
    rows[0].update(death_cause="1")
    rows[-1].update(ae_serious="1", ae_sae_criteria___1="1")
    assert _checked(rows).empty


def test_a_gap_never_reads_100_percent():
    from sgbm_redcap.reports.quality import complete_pct, completeness_table

    assert complete_pct(4055, 4056) == "99.9%" and complete_pct(4056, 4056) == "100.0%"
    comp = pd.DataFrame({"dag": ["a"], "form": ["adverse_events"], "expected": [4056],
                         "filled": [4055]})
    row = completeness_table(comp, "form", {}, id="c", caption="c").rows[0]
    assert row == ["adverse_events", "4056", "4055", "1", "99.9%"]
