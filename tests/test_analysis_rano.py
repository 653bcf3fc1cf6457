"""RANO-BM / RECIST time-point derivation from measurements."""

import pandas as pd
import pytest
from analysis_world import World

from sgbm_redcap.analysis.rano import rano_timepoints
from sgbm_redcap.analysis.recist import recist_timepoints


def _derived(world, rid="1"):
    tp = rano_timepoints(world.tables())
    return list(tp[tp.record_id == rid]["response_derived"])


def test_sld_changes_and_nadir_follow_the_measurements():
    w = World().patient("1", targets=(20, 20))
    w.scan("1", "2024-02-20", 12, 14, inv="2")   # 26: -35% from 40 -> PR
    w.scan("1", "2024-04-01", 10, 10, inv="2")   # 20: nadir
    w.scan("1", "2024-05-10", 16, 9, inv="4")    # 25: +25% vs nadir, lesion 1 +6 mm -> PD
    tp = rano_timepoints(w.tables())
    assert list(tp["sld"]) == [26, 20, 25]
    assert tp["pct_from_baseline"].round(1).tolist() == [-35.0, -50.0, -37.5]
    assert list(tp["nadir_sld"]) == [40, 26, 20]
    assert tp["pct_from_nadir"].round(1).tolist() == [-35.0, -23.1, 25.0]
    assert tp["max_lesion_increase"].tolist()[-1] == 6
    assert list(tp["response_derived"]) == ["PR", "PR", "PD"]
    assert tp["agree"].tolist() == [True, True, True]


def test_twenty_percent_growth_without_a_5mm_lesion_increase_is_not_pd():
    w = World().patient("1", targets=(10, 10))
    w.scan("1", "2024-02-20", 14, 14)            # +40% but each lesion only +4 mm
    assert _derived(w) == ["SD"]


def test_disappearance_needs_no_steroids_and_no_other_disease_for_cr():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 0, 0)
    w.scan("1", "2024-03-20", 0, 0, ia_steroid_dex_mg=4)
    w.scan("1", "2024-04-20", 0, 0, nontarget="1")
    w.scan("1", "2024-05-20", 0, 0, new="2")
    assert _derived(w) == ["CR", "PR", "PR", "PR"]


def test_any_single_pd_component_makes_pd():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 10, 8, new="1")
    w.scan("1", "2024-03-20", 10, 8, nontarget="2")
    w.scan("1", "2024-04-20", 10, 8, ia_lmd="3")
    w.scan("1", "2024-05-20", 10, 8, ia_clinical="3")
    assert _derived(w) == ["PD"] * 4


def test_steroid_increase_or_non_tumour_worsening_caps_response_at_sd():
    w = World().patient("1")
    w.scan("1", "2024-02-20", 10, 8, ia_steroid_change="3")
    w.scan("1", "2024-03-20", 10, 8, ia_clinical="3", ia_clin_tumour="0")
    assert _derived(w) == ["SD", "SD"]


def test_missing_target_is_ne_unless_the_rest_already_progressed():
    w = World().patient("1", targets=(20, 15))
    w.scan("1", "2024-02-20", 20)                # lesion 2 not measured
    w.scan("1", "2024-03-20", 30)                # 30 >= 1.2 * 35? no -> NE
    w.scan("1", "2024-04-20", 45)                # 45 >= 42 and +25 mm -> PD
    assert _derived(w) == ["NE", "NE", "PD"]


def test_non_measurable_only_patients_get_non_cr_non_pd():
    w = World().patient("1", targets=())
    w.scan("1", "2024-02-20", nontarget="1", inv="6")
    w.scan("1", "2024-03-20", nontarget="0")
    w.scan("1", "2024-04-20", nontarget="9")
    tp = rano_timepoints(w.tables())
    assert list(tp["response_derived"]) == ["NON-CR/NON-PD", "CR", "NE"]
    assert tp["agree"].tolist()[0] is True
    assert tp["sld"].isna().all()


def test_disagreement_with_investigator_is_flagged():
    w = World().patient("1", targets=(20, 20))
    w.scan("1", "2024-02-20", 18, 18, inv="2")   # -10% -> SD, investigator said PR
    tp = rano_timepoints(w.tables())
    assert tp.loc[0, "response_derived"] == "SD"
    assert tp.loc[0, "response_investigator"] == "PR"
    assert not tp.loc[0, "agree"]


def test_label_valued_categoricals_read_like_codes():
    w = World().patient("1", targets=(20, 20))
    w.scan("1", "2024-02-20", 10, 10, inv="2", nontarget="1")
    tables = w.tables()
    ia = tables["intracranial_assessment"]
    ia["ia_nontarget"] = pd.Categorical(ia["ia_nontarget"].map(
        {"0": "Absent", "1": "Present: non-CR/non-PD"}))
    ia["ia_rano_inv"] = pd.Categorical(ia["ia_rano_inv"].map({"2": "PR", "": None}))
    tp = rano_timepoints(tables)
    assert tp.loc[0, "response_derived"] == "PR" and tp.loc[0, "agree"]


def test_flat_export_gives_the_same_timepoints():
    w = World().patient("1").patient("2", targets=(30,))
    w.scan("1", "2024-02-20", 5, 5, inv="2").scan("2", "2024-02-21", 40, inv="4")
    a = rano_timepoints(w.tables())
    b = rano_timepoints(w.flat())
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(("lesions", "expected"), [((24, 6), "PD"), ((22, 5), "SD")])
def test_recist_uses_the_absolute_sum_increase(lesions, expected):
    w = World().patient("1")
    w.add("extracranial_assessment", "1", ea_date="2024-01-02", ea_type="1", ea_tl1_ld=20,
          ea_tl2_ld=5, ea_nontarget="0")
    w.add("extracranial_assessment", "1", ea_date="2024-03-01", ea_type="2",
          ea_tl1_ld=lesions[0], ea_tl2_ld=lesions[1], ea_nontarget="0", ea_new_lesion="0")
    tp = recist_timepoints(w.tables())
    assert list(tp["response_derived"]) == [expected]
