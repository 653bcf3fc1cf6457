"""analyse_study end to end on a small hand-built world; subgroups and baseline table."""

import math

import pandas as pd
from analysis_world import World

from sgbm_redcap.analysis import AnalysisOptions, analyse_study, baseline_table
from sgbm_redcap.analysis.subgroups import subgroup_estimates, subgroup_membership


def _world(n_resp=3, n_other=9):
    w = World()
    for i in range(n_resp + n_other):
        rid = str(i + 1)
        w.patient(rid, dag="site_a" if i % 2 else "site_b")
        w.add("demographics", rid, ecog="0" if i % 3 else "2", age_sg_start=50 + i)
        w.add("tumour", rid, subtype_sg="1" if i < 6 else "2", her2_ihc="0")
        if i < n_resp:   # confirmed PR, then PD
            w.scan(rid, "2024-02-20", 10, 5, inv="2").scan(rid, "2024-04-01", 10, 5, inv="2")
            w.scan(rid, "2024-06-01", 30, 20, inv="4")
        else:            # SD then PD at a spread of dates
            w.scan(rid, "2024-02-25", 20, 15, inv="3")
            w.scan(rid, f"2024-04-{10 + i:02d}", 40, 15, inv="4")
        w.add("follow_up", rid, vital_status="1", last_contact_date="2024-07-01")
    w.patient("99", eligible="0")
    return w


def test_analyse_study_end_to_end():
    r = analyse_study(_world().tables(), cutoff="2024-12-31")
    assert r.set_counts == {"records": 13, "safety": 12, "fas": 12, "ires": 12}
    assert r.proportions["iORR_confirmed"].x == 3 and r.proportions["iORR_confirmed"].n == 12
    assert r.proportions["iDCR"].x == 12
    km = r.km["ipfs"]
    assert (km.n, km.events) == (12, 12)
    assert r.km["idor"].n == 3
    assert list(r.landmarks["endpoint"].unique()) == ["ipfs", "pfs", "os", "idor"]
    assert r.followup is not None and r.followup.events == 12   # all alive: censored = event
    cif = r.cumulative_incidence_ipd.set_index("time")
    assert cif.loc[3.0, "cumulative_incidence"] == 0.0 and cif.loc[3.0, "at_risk"] == 12
    # every iPFS time ends by 4.7 months: 6 and 12 months are not estimable, not "100%"
    assert math.isnan(cif.loc[6.0, "cumulative_incidence"])
    assert cif.loc[6.0, "reason"] == "no patient at risk: last observed time 4.7"
    marks = r.landmarks.set_index(["endpoint", "months"])
    assert math.isnan(marks.loc[("os", 12.0), "survival"]) and marks.loc[("os", 12.0), "at_risk"] == 0
    assert r.landmark_months == (3.0,)   # the report's columns: times the follow-up reaches
    best = r.bor_intracranial.set_index("record_id").loc["1", "best_pct_change"]
    assert math.isclose(best, -100 * 20 / 35)   # 35 mm -> 15 mm
    assert r.response_discordance.loc["PD", "PD"] == 12
    assert any("Clopper" in note for note in r.notes)


def test_cutoff_changes_the_picture():
    early = analyse_study(_world().tables(), cutoff="2024-03-31")
    assert early.km["ipfs"].events == 0
    assert early.proportions["iORR_confirmed"].x == 0       # confirmation scan after cut-off
    assert early.proportions["iORR_unconfirmed"].x == 3


def test_subgroups_are_suppressed_below_ten_patients_or_five_events():
    r = analyse_study(_world().tables(), cutoff="2024-12-31")
    sub = r.subgroups.set_index(["subgroup", "level"])
    small = sub.loc[("Subtype", "TNBC")]
    assert small.n_ires == 6 and math.isnan(small.iorr) and "fewer than 10" in small.flag
    her2 = sub.loc[("HER2 status", "HER2-0")]
    assert her2.n_ires == 12 and her2.iorr == 3 / 12 and her2.flag == ""
    kept = analyse_study(_world().tables(), cutoff="2024-12-31",
                         options=AnalysisOptions(suppress_small_subgroups=False))
    shown = kept.subgroups.set_index(["subgroup", "level"]).loc[("Subtype", "TNBC")]
    assert shown.iorr == 0 and shown.flag != ""


def test_subgroup_membership_reads_the_prespecified_cuts():
    w = World().patient("1").patient("2")
    w.add("brain_mets_baseline", "1", bm_count=2, bm_status="3", lmd="1")
    w.rows["brain_mets_baseline"] = [r for r in w.rows["brain_mets_baseline"]
                                     if r.get("bm_count") or r["record_id"] == "2"]
    w.rows["brain_mets_baseline"][0]["bm_baseline_scan_date"] = "2023-12-28"
    w.add("prior_cns_therapy", "1", cns_type="2", cns_start_date="2023-12-20",
          cns_end_date="2023-12-20")
    w.add("prior_cns_therapy", "2", cns_type="1", cns_start_date="2023-06-01")
    w.add("prior_systemic_therapy", "1", sys_agents___20="1", sys_agents___21="0")
    w.add("prior_systemic_therapy", "2", sys_agents___20="0", sys_agents___21="0")
    m = subgroup_membership(w.tables()).set_index("record_id")
    assert m.loc["1", "Number of BM"] == "1-3" and m.loc["1", "BM activity"] == "Active"
    assert m.loc["1", "CNS radiation < 4 weeks before SG"] == "Yes"
    assert m.loc["2", "Prior CNS radiation"] == "No"      # surgery is not radiation
    assert m.loc["1", "Prior T-DXd or other ADC"] == "Yes"
    assert m.loc["2", "Prior T-DXd or other ADC"] == "No"


def test_subgroup_estimates_flag_few_events():
    m = pd.DataFrame({"record_id": [str(i) for i in range(12)], "All": ["all"] * 12})
    ipfs = pd.DataFrame({"record_id": m.record_id, "months": range(1, 13),
                         "event": [1] * 4 + [0] * 8})
    bor = pd.DataFrame({"record_id": m.record_id, "response": ["PR"] * 12})
    row = subgroup_estimates(m, bor, list(m.record_id), ipfs, list(m.record_id)).iloc[0]
    assert row.iorr == 1.0 and math.isnan(row.ipfs_median)
    assert "5 events" in row.flag


def test_two_level_subgroups_get_an_ipfs_hazard_ratio_against_the_first_level():
    ids = [str(i) for i in range(24)]
    m = pd.DataFrame({"record_id": ids, "ECOG": ["0–1"] * 12 + ["≥2"] * 12,
                      "Subtype": ["A"] * 8 + ["B"] * 8 + ["C"] * 8})
    # the ≥2 group progresses later: an HR below 1 against 0–1
    months = [*range(1, 13), *range(3, 27, 2)]
    ipfs = pd.DataFrame({"record_id": ids, "months": months, "event": [1] * 24})
    bor = pd.DataFrame({"record_id": ids, "response": ["SD"] * 24})
    est = subgroup_estimates(m, bor, ids, ipfs, ids).set_index(["subgroup", "level"])
    from sgbm_redcap.analysis.survival import cox_hazard_ratio

    expected = cox_hazard_ratio(months, [1] * 24, [0] * 12 + [1] * 12)
    assert est.loc[("ECOG", "0–1"), "hr_reference"]
    assert math.isnan(est.loc[("ECOG", "0–1"), "ipfs_hr"])
    assert math.isclose(est.loc[("ECOG", "≥2"), "ipfs_hr"], expected.hr)
    assert est.loc[("ECOG", "≥2"), "ipfs_hr"] < 1
    assert math.isclose(est.loc[("ECOG", "≥2"), "ipfs_hr_upper"], expected.upper)
    assert est.xs("Subtype")["ipfs_hr"].isna().all()      # three levels: no single contrast
    assert not est.xs("Subtype")["hr_reference"].any()
    # a level too small for its own median hides the contrast too (and only then)
    small = subgroup_estimates(m, bor, ids, ipfs, ids[:16]).set_index(["subgroup", "level"])
    assert math.isnan(small.loc[("ECOG", "≥2"), "ipfs_hr"])
    kept = subgroup_estimates(m, bor, ids, ipfs, ids[:16], suppress=False)
    assert kept.set_index(["subgroup", "level"])["ipfs_hr"].notna().sum() == 1


def test_baseline_table_counts_missing():
    w = _world(n_resp=1, n_other=3)
    w.rows["demographics"][0]["ecog"] = ""
    table = baseline_table(w.tables(), population=["1", "2", "3", "4"])
    ecog = table[table.variable == "ECOG PS"]
    assert ecog["n_missing"].iloc[0] == 1
    assert ecog["n"].sum() == 3
    age = table[table.variable == "Age at SG start (years)"].iloc[0]
    assert age.value == "51.5 (50.75–52.25; 50–53)" and age.n_missing == 0
    everyone = baseline_table(w.tables())       # record 99 has no demographics at all
    assert everyone[everyone.variable == "ECOG PS"]["n_missing"].iloc[0] == 2


def test_clinical_progression_without_a_pd_scan_is_a_pd_time_point():
    w = _world()
    w.patient("50")
    w.add("follow_up", "50", vital_status="1", ipd_date="2024-02-01", ipd_criterion="5",
          last_contact_date="2024-07-01")
    w.scan("50", "2024-03-01", 20, 15, inv="3")    # after the clinical PD: ignored
    r = analyse_study(w.tables(), cutoff="2024-12-31")
    bor = r.bor_intracranial.set_index("record_id").loc["50"]
    assert (bor.confirmed, bor.confirmed_date) == ("PD", pd.Timestamp("2024-02-01"))
    ipfs = r.endpoints.set_index(["record_id", "endpoint"]).loc[("50", "ipfs")]
    assert (ipfs.event, ipfs.end_date) == (1, pd.Timestamp("2024-02-01"))


def test_an_empty_study_or_empty_sets_give_empty_results_not_errors():
    empty = analyse_study({}, cutoff="2024-01-01")
    assert empty.set_counts == {"records": 0, "safety": 0, "fas": 0, "ires": 0}
    assert empty.km["ipfs"] is None and empty.followup is None
    assert empty.proportions["iORR_confirmed"].text() == "0/0"
    undosed = analyse_study(World().patient("1", doses=0).tables())
    assert undosed.sets.loc[0, "safety_reason"] == "no SG dose recorded"
    assert undosed.teae_overview["n"].sum() == 0


def test_a_patient_enrolled_before_the_cutoff_who_starts_sg_after_it_is_not_yet_treated():
    """At a 2024-12-31 cut-off nothing of SG given in 2025 is known: the start date is blanked
    with the doses, so the patient is in the analysis but not (yet) in the safety set."""
    from sgbm_redcap.analysis import apply_cutoff

    w = _world()
    w.patient("60", sg_start="2025-01-20", baseline_scan="2024-12-15")
    w.rows["enrolment"][-1].update(screening_date="2024-12-01", enrol_date="2024-12-10")
    study = apply_cutoff(w.tables(), "2024-12-31")
    assert pd.isna(study["sg_treatment"].set_index("record_id").loc["60", "sg_start_date"])
    assert not study["sg_administration"]["record_id"].eq("60").any()
    r = analyse_study(w.tables(), cutoff="2024-12-31")
    row = r.sets.set_index("record_id").loc["60"]
    assert not row["safety"] and row["safety_reason"] == "no SG dose recorded"
    assert pd.isna(row["sg_start_date"])
    later = analyse_study(w.tables(), cutoff="2025-12-31").sets.set_index("record_id")
    assert later.loc["60", "safety"] and later.loc["60", "sg_start_date"] == pd.Timestamp(
        "2025-01-20")


def test_patients_screened_after_the_cutoff_are_not_in_the_analysis():
    from sgbm_redcap.analysis import apply_cutoff

    w = _world()
    # screened and started after the cut-off: not part of a 2024-12-31 analysis at all
    w.add("enrolment", "50", eligible="1", screening_date="2025-02-01",
          enrol_date="2025-02-03")
    w.add("sg_treatment", "50", sg_start_date="2025-02-10")
    w.add("follow_up", "50", vital_status="1", last_contact_date="2025-02-10")
    # no screening date: the enrolment date says when the patient came in
    w.add("enrolment", "51", eligible="1", enrol_date="2025-01-05")
    # screened before the cut-off, enrolled after it: screened, not (yet) enrolled
    w.add("enrolment", "52", eligible="1", screening_date="2024-12-20",
          enrol_date="2025-01-05")
    study = apply_cutoff(w.tables(), "2024-12-31")
    assert "50" not in study.record_ids and "51" not in study.record_ids
    assert all(not frame["record_id"].isin(["50", "51"]).any()
               for frame in study.forms.values())
    enrol = study["enrolment"].set_index("record_id")
    assert pd.isna(enrol.loc["52", "enrol_date"])
    assert enrol.loc["52", "screening_date"] == pd.Timestamp("2024-12-20")
    r = analyse_study(w.tables(), cutoff="2024-12-31")
    assert r.set_counts["records"] == 14                       # 13 + record 52
    assert set(r.sets["record_id"]) == {*map(str, range(1, 13)), "99", "52"}
    later = analyse_study(w.tables(), cutoff="2025-12-31")
    assert {"50", "51", "52"} <= set(later.sets["record_id"])
