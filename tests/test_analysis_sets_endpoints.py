"""Analysis sets with reasons, and time-to-event derivation with censoring reasons."""

import pandas as pd
import pytest
from analysis_world import World

from sgbm_redcap.analysis.endpoints import EndpointRules, derive_endpoints
from sgbm_redcap.analysis.sets import analysis_sets


def _sets(world, **kw):
    return analysis_sets(world.tables(), **kw).set_index("record_id")


def test_each_exclusion_has_its_reason():
    w = World()
    w.patient("ok")
    w.patient("inelig", eligible="0")
    w.patient("nodose", doses=0)
    w.patient("noscan", baseline_scan=None)
    w.patient("early", baseline_scan="2023-11-20")          # 51 days before SG start
    w.patient("small", targets=(8, 6))
    s = _sets(w)
    assert s.loc["ok", ["safety", "fas", "ires"]].tolist() == [True, True, True]
    assert s.loc["inelig", "safety_reason"] == "not eligible"
    assert s.loc["nodose", "safety_reason"] == "no SG dose recorded"
    assert s.loc["noscan", "fas_reason"] == "no baseline brain imaging"
    assert s.loc["early", "fas_reason"] == "baseline brain imaging 51 days before SG start (window 28)"
    assert s.loc["early", "ires_reason"] == "not in FAS"
    assert bool(s.loc["small", "fas"]) and not bool(s.loc["small", "ires"])
    assert "no measurable" in s.loc["small", "ires_reason"]


def test_wider_window_admits_the_early_scan():
    w = World().patient("early", baseline_scan="2023-11-20")
    assert not bool(_sets(w).loc["early", "fas"])
    assert bool(_sets(w, baseline_window_days=60).loc["early", "fas"])


def test_bm_diagnosed_after_sg_start_is_out_of_fas():
    w = World().patient("late")
    w.rows["brain_mets_baseline"][0]["bm_diag_date"] = "2024-03-01"
    assert _sets(w).loc["late", "fas_reason"] == "brain metastases first diagnosed after SG start"


def _ep(world, **kw):
    out = derive_endpoints(world.tables(), **kw)
    return out.set_index(["record_id", "endpoint"])


def test_ipfs_event_on_the_pd_scan_and_months_convention():
    w = World().patient("1", sg_start="2024-01-10")
    w.scan("1", "2024-02-20", 15, 10, inv="3").scan("1", "2024-04-10", 30, 10, inv="4")
    w.add("follow_up", "1", vital_status="1", last_contact_date="2024-06-01")
    row = _ep(w).loc[("1", "ipfs")]
    assert row.event == 1 and row.event_type == 1
    assert row.end_date == pd.Timestamp("2024-04-10")
    assert row.days == 92  # 2024-01-10 .. 2024-04-10, start day = day 1
    assert row.months == pytest.approx(92 / 30.4375)


def test_censored_at_last_adequate_scan_and_ne_scans_do_not_count():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 15, 10, inv="3").scan("1", "2024-04-10", inv="5")
    w.add("follow_up", "1", vital_status="1", last_contact_date="2024-06-01")
    row = _ep(w).loc[("1", "ipfs")]
    assert (row.event, row.end_date) == (0, pd.Timestamp("2024-02-20"))
    assert "last adequate" in row.reason


def test_no_post_baseline_scan_alive_is_censored_at_day_1():
    w = World().patient("1")
    w.add("follow_up", "1", vital_status="1", last_contact_date="2024-03-01")
    row = _ep(w).loc[("1", "ipfs")]
    assert (row.event, row.days) == (0, 1)
    assert row.reason == "censored at day 1: no post-baseline assessment"


def test_death_before_first_scan_is_an_event_death_after_long_gap_is_censored():
    w = World().patient("1").patient("2")
    w.add("follow_up", "1", vital_status="2", death_date="2024-02-15")
    w.scan("2", "2024-02-20", 15, 10, inv="3")
    w.add("follow_up", "2", vital_status="2", death_date="2024-08-01")   # 163 days after scan
    ep = _ep(w)
    assert ep.loc[("1", "ipfs")].event == 1 and ep.loc[("1", "ipfs")].event_type == 2
    assert ep.loc[("2", "ipfs")].event == 0
    assert "missed assessments" in ep.loc[("2", "ipfs")].reason
    sens = _ep(w, rules=EndpointRules(max_gap_days=None))
    assert sens.loc[("2", "ipfs")].event == 1
    assert ep.loc[("2", "os")].event == 1  # OS has no gap rule


def test_new_therapy_before_ipd_censors_at_the_scan_before_it():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 15, 10, inv="3").scan("1", "2024-04-01", 15, 10, inv="3")
    w.add("concomitant_care", "1", cm_category="9", cm_start_date="2024-04-15",
          cm_cns_for_pd="0")
    w.scan("1", "2024-05-20", 40, 10, inv="4")
    row = _ep(w).loc[("1", "ipfs")]
    assert (row.event, row.end_date) == (0, pd.Timestamp("2024-04-01"))
    assert row.reason.startswith("censored: new anticancer therapy")


def test_confirmed_equivocal_new_lesion_dates_pd_back():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 15, 10, inv="3", new="2")
    w.scan("1", "2024-03-20", 15, 10, inv="4", new="1")
    assert _ep(w).loc[("1", "ipfs")].end_date == pd.Timestamp("2024-02-20")


def test_extracranial_pd_is_a_pfs_event_not_an_ipfs_event():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 15, 10, inv="3").scan("1", "2024-04-20", 15, 10, inv="3")
    w.add("follow_up", "1", vital_status="1", epd_date="2024-03-15",
          last_contact_date="2024-05-01")
    ep = _ep(w)
    assert ep.loc[("1", "ipfs")].event == 0
    assert (ep.loc[("1", "pfs")].event, ep.loc[("1", "pfs")].end_date) == (
        1, pd.Timestamp("2024-03-15"))


def test_cutoff_censors_administratively_and_ignores_later_data():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 15, 10, inv="3").scan("1", "2024-05-20", 40, 10, inv="4")
    w.add("follow_up", "1", vital_status="2", death_date="2024-07-01",
          last_contact_date="2024-07-01")
    ep = _ep(w, cutoff="2024-04-30")
    assert (ep.loc[("1", "ipfs")].event, ep.loc[("1", "ipfs")].end_date) == (
        0, pd.Timestamp("2024-02-20"))
    os_row = ep.loc[("1", "os")]
    assert (os_row.event, os_row.end_date) == (0, pd.Timestamp("2024-04-30"))
    assert os_row.reason == "censored: alive at data cut-off"
    full = _ep(w)
    assert full.loc[("1", "os")].event == 1 and full.loc[("1", "ipfs")].event == 1


def test_os_censoring_reasons():
    w = World().patient("1").patient("2")
    w.add("follow_up", "1", vital_status="1", last_contact_date="2024-05-01")
    w.add("follow_up", "2", vital_status="3", last_contact_date="2024-03-01")
    ep = _ep(w)
    assert ep.loc[("1", "os")].end_date == pd.Timestamp("2024-05-01")
    assert ep.loc[("2", "os")].reason == "censored: lost to follow-up"


def test_derived_response_source_uses_the_measurements():
    w = World().patient("1", targets=(20, 20))
    w.scan("1", "2024-02-20", 30, 20, inv="3")  # +25 %, +10 mm: derived PD, investigator SD
    w.add("follow_up", "1", vital_status="1", last_contact_date="2024-05-01")
    assert _ep(w).loc[("1", "ipfs")].event == 0
    assert _ep(w, rules=EndpointRules(response_source="derived")).loc[("1", "ipfs")].event == 1


def test_one_per_record_joins_forms_with_checkbox_columns_without_clashes():
    from sgbm_redcap.analysis.inputs import prepare

    w = World().patient("1").patient("2", dag="site_b")
    w.add("tumour", "1", subtype_sg="1", ec_mets___1="1", ec_mets___3="0")
    w.add("tumour", "2", subtype_sg="2", ec_mets___1="0", ec_mets___3="1", dag="site_b")
    w.add("follow_up", "2", vital_status="1", dag="site_b")
    for source in (w.tables(), w.flat()):   # World.flat() carries no DAG on single forms
        study = prepare(source)
        # a caller's form lists may overlap: the checkbox form comes in more than once
        per = study.one_per_record("enrolment", "tumour", "follow_up", "tumour", "tumour",
                                   "tumour")
        assert per.columns.is_unique
        assert list(per["record_id"]) == ["1", "2"]
        assert list(per["ec_mets___1"]) == ["1", "0"] and list(per["ec_mets___3"]) == ["0", "1"]
        assert list(per["subtype_sg"]) == ["1", "2"]
        if isinstance(source, dict):
            assert list(per["redcap_data_access_group"]) == ["site_a", "site_b"]
        assert not [c for c in per.columns if c.endswith(("_x", "_y"))]
