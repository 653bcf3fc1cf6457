"""Reference numbers of DOMAIN.md §0 and §5.4 (R 4.2.2 survival 3.5-3 / lifelines 0.30.3 /
R binom.test), computed outside this package; see /work/shared/docs/reference/."""

import math

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_lung, load_waltons

from sgbm_redcap.analysis import clopper_pearson, cumulative_incidence, fit_km
from sgbm_redcap.analysis.survival import cox_hazard_ratio, fmt_time, reverse_km_followup
from sgbm_redcap.errors import AnalysisInputError

AML_TIME = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161, 5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
AML_STATUS = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
AML_GROUP = ["Maintained"] * 11 + ["Nonmaintained"] * 12


@pytest.mark.parametrize(("x", "n", "lower", "upper"), [
    (7, 25, 0.120717, 0.493877), (0, 20, 0.0, 0.168433),
    (30, 100, 0.212406, 0.399815), (20, 100, 0.126656, 0.291843),
])
def test_clopper_pearson_matches_r_binom_test(x, n, lower, upper):
    p = clopper_pearson(x, n)
    assert (p.lower, p.upper) == (pytest.approx(lower, abs=1e-6), pytest.approx(upper, abs=1e-6))
    assert p.estimate == x / n


def test_clopper_pearson_edges_and_text():
    assert clopper_pearson(5, 5).upper == 1.0
    assert clopper_pearson(11, 15).text() == "11/15 (73.3%; 95% CI 44.9–92.2)"  # not Wilson
    assert math.isnan(clopper_pearson(0, 0).estimate)
    with pytest.raises(AnalysisInputError):
        clopper_pearson(3, 2)


def _lung():
    lung = load_lung()
    return lung


@pytest.mark.parametrize(("subset", "median", "loglog", "log"), [
    (None, 310, (284, 361), (285, 363)),
    (1, 270, (210, 306), (212, 310)),
    (2, 426, (345, 524), (348, 550)),
])
def test_km_median_and_ci_on_lung(subset, median, loglog, log):
    lung = _lung()
    d = lung if subset is None else lung[lung.sex == subset]
    a = fit_km(d.time, d.status)
    assert (a.median, a.median_lower, a.median_upper) == (median, *loglog)
    b = fit_km(d.time, d.status, conf_type="log")
    assert (b.median, b.median_lower, b.median_upper) == (median, *log)


@pytest.mark.parametrize(("group", "median", "loglog", "log"), [
    (None, 27, (13, 34), (18, 45)),
    ("Maintained", 31, (13, math.inf), (18, math.inf)),
    ("Nonmaintained", 23, (5, 33), (8, math.inf)),
])
def test_km_median_and_ci_on_aml(group, median, loglog, log):
    frame = pd.DataFrame({"t": AML_TIME, "e": AML_STATUS, "g": AML_GROUP})
    d = frame if group is None else frame[frame.g == group]
    a = fit_km(d.t, d.e)
    assert (a.median, a.median_lower, a.median_upper) == (median, *loglog)
    b = fit_km(d.t, d.e, conf_type="log")
    assert (b.median, b.median_lower, b.median_upper) == (median, *log)


def test_not_reached_prints_nr():
    d = pd.DataFrame({"t": AML_TIME, "e": AML_STATUS, "g": AML_GROUP})
    km = fit_km(d[d.g == "Maintained"].t, d[d.g == "Maintained"].e)
    assert km.median_text(0) == "31 (13–NR)"
    assert fmt_time(float("nan")) == "NR"


@pytest.mark.parametrize(("group", "n", "events", "median", "ci"), [
    ("control", 129, 122, 58, (56, 60)), ("miR-137", 34, 34, 26, (19, 29)),
])
def test_km_on_waltons(group, n, events, median, ci):
    w = load_waltons()
    d = w[w.group == group]
    km = fit_km(d["T"], d["E"])
    assert (km.n, km.events, km.median, (km.median_lower, km.median_upper)) == (
        n, events, median, ci)


def test_landmarks_on_lung_with_numbers_at_risk():
    lung = _lung()
    km = fit_km(lung.time, lung.status)
    six, twelve = km.landmark(182.625), km.landmark(365.25)
    assert (round(six.survival, 3), round(six.lower, 3), round(six.upper, 3)) == (
        0.708, 0.644, 0.763)
    assert (round(twelve.survival, 3), round(twelve.lower, 3), round(twelve.upper, 3)) == (
        0.409, 0.339, 0.478)
    assert (six.at_risk, twelve.at_risk) == (156, 65)  # R summary(fit, times=) n.risk
    log = fit_km(lung.time, lung.status, conf_type="log").landmark(182.625)
    assert (round(log.lower, 3), round(log.upper, 3)) == (0.651, 0.770)


def test_reverse_km_median_follow_up_on_lung():
    lung = _lung()
    fu = reverse_km_followup(lung.time, lung.status)
    assert (fu.median, fu.median_lower, fu.median_upper) == (588, 511, 821)
    assert fu.events == 63
    assert reverse_km_followup(lung.time, lung.status, conf_type="log").median_upper == 1010


def test_exact_half_plateau_median_rule():
    """Times 1..10, all events: S = 0.5 exactly on [5, 6). R (and SAS) report the midpoint
    5.5, lifelines the left end 5.0. We default to R's midpoint; R's log-band CI is 3–NA."""
    t, e = np.arange(1, 11), np.ones(10)
    assert fit_km(t, e).median == 5.5
    assert fit_km(t, e, median_rule="left").median == 5.0
    r = fit_km(t, e, conf_type="log")
    assert (r.median, r.median_lower, r.median_upper) == (5.5, 3, math.inf)


def test_km_rejects_bad_input():
    with pytest.raises(AnalysisInputError):
        fit_km([], [])
    with pytest.raises(AnalysisInputError):
        fit_km([1, np.nan], [1, 0])
    with pytest.raises(AnalysisInputError):
        fit_km([1, -2], [1, 0])
    assert fit_km([1, 2, 3], [0, 0, 0]).median == math.inf  # no events: NR, not an error


def test_aalen_johansen_matches_the_hand_formula_with_ties():
    """CIF(t) = Σ S(t_j−)·d1_j / n_j with S the all-cause KM; ties of both causes and of
    events with censoring at the same time."""
    t = [1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7]
    k = [1, 2, 1, 0, 1, 2, 1, 0, 2, 1, 0]
    got = cumulative_incidence(t, k, times=[1, 2, 3, 4, 5, 6, 7]).set_index("time")
    ta, ka = np.array(t, float), np.array(k)
    s, cif, expected = 1.0, 0.0, {}
    for time in np.unique(ta):
        n = (ta >= time).sum()
        d1 = ((ta == time) & (ka == 1)).sum()
        d = ((ta == time) & (ka > 0)).sum()
        cif += s * d1 / n
        s *= 1 - d / n
        expected[time] = cif
    for time, value in expected.items():
        assert got.loc[time, "cumulative_incidence"] == pytest.approx(value, abs=1e-9)
    assert got.loc[4, "at_risk"] == 6  # 4, 5, 5, 6, 6, 7
    assert (got["lower"] <= got["cumulative_incidence"]).all()
    assert (got["upper"] >= got["cumulative_incidence"]).all()


def test_cox_hazard_ratio_by_sex_on_lung_matches_r_coxph():
    """DOMAIN §5.4: coxph(Surv(time, status) ~ sex, lung): HR 0.588 (0.424–0.816), p=0.0015."""
    lung = load_lung()
    hr = cox_hazard_ratio(lung["time"], lung["status"], lung["sex"] == 2)
    assert (round(hr.hr, 3), round(hr.lower, 3), round(hr.upper, 3)) == (0.588, 0.424, 0.816)
    assert round(hr.p, 4) == 0.0015 and (hr.n, hr.events) == (228, 165)
    flipped = cox_hazard_ratio(lung["time"], lung["status"], lung["sex"] == 1)
    assert math.isclose(flipped.hr, 1 / hr.hr, rel_tol=1e-6)


def test_cox_hazard_ratio_needs_both_groups_and_an_event():
    assert cox_hazard_ratio([1, 2, 3], [1, 0, 1], [1, 1, 1]) is None
    assert cox_hazard_ratio([1, 2, 3], [0, 0, 0], [0, 1, 1]) is None
    with pytest.raises(AnalysisInputError):
        cox_hazard_ratio([1, 2, 3], [1, 0, 1], [0, 1])
