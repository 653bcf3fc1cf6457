"""Survival statistics equal to R's survival 3.5-3 on small samples (issue 19).

Three layers: the literal cases of issue 19 with the numbers R 4.2.2 / survival 3.5-3 prints;
a property test holding sgbm_redcap against the textbook implementation in
survival_reference.py on generated samples (n 1–40, heavy ties, time 0, every censoring
pattern); and, when Rscript with survival is installed, both against R itself.
"""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import survival_reference as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgbm_redcap.analysis import (
    HazardRatio,
    cox_hazard_ratio,
    cumulative_incidence,
    fit_km,
    reverse_km_followup,
)
from sgbm_redcap.analysis.survival import median_time

INF, NA = math.inf, math.nan


def _triple(km):
    return km.median, km.median_lower, km.median_upper


# --------------------------------------------------------------------------- issue 19, literally
def test_median_ci_when_the_curve_reaches_zero_is_not_reached_as_in_r():
    """Times 1–4, all events: R prints 2.5 (1–NA); the band at S = 0 is NA, not 0–0."""
    km = fit_km([1, 2, 3, 4], [1, 1, 1, 1])
    assert _triple(km) == (2.5, 1.0, INF)
    assert km.median_text() == "2.5 (1.0–NR)"
    three, four = km.landmark(3), km.landmark(4)
    assert (three.survival, three.lower, three.upper, three.at_risk) == pytest.approx(
        (0.25, 0.00894782441660317, 0.665325342788865, 2), abs=1e-12)
    assert four.survival == 0 and math.isnan(four.lower) and math.isnan(four.upper)
    assert four.at_risk == 1 and four.estimable and four.text() == "0 (NE–NE); 1 at risk"


def test_median_on_a_half_plateau_running_to_the_last_time_is_its_left_end():
    """Times 1..8, events at 1–4: S = 0.5 from 4 to the end; R's table prints 4 (1–NA)."""
    assert _triple(fit_km(range(1, 9), [1, 1, 1, 1, 0, 0, 0, 0])) == (4.0, 1.0, INF)
    # the curve does drop below 0.5 later: the middle of the plateau, as before (R 5.5 (1–8))
    assert _triple(fit_km(range(1, 11), [1] * 10)) == (5.5, 1.0, 8.0)
    assert _triple(fit_km(range(1, 11), [1] * 10, conf_type="log")) == (5.5, 3.0, INF)
    assert fit_km(range(1, 9), [1, 1, 1, 1, 0, 0, 0, 0], median_rule="left").median == 4.0


def test_reverse_km_follow_up_on_three_patients():
    """Times 2, 26, 128 with status 1, 0, 1: R's reverse KM prints 26 (26–NA), not 77."""
    assert _triple(reverse_km_followup([2, 26, 128], [1, 0, 1])) == (26.0, 26.0, INF)


@pytest.mark.parametrize(("times", "events", "expected"), [
    ([5], [1], (5.0, INF, INF)),                    # one patient, an event: 5 (NA–NA)
    ([5], [0], (INF, INF, INF)),                    # one patient, censored
    ([1, 2, 3], [0, 0, 0], (INF, INF, INF)),        # all censored
    ([1, 2, 3, 4, 4, 4], [1, 0, 1, 1, 0, 1], (4.0, 1.0, INF)),  # events and censoring at the end
    ([0, 0, 1, 2, 3], [1, 0, 1, 0, 1], (3.0, 0.0, INF)),        # events at time 0
])
def test_edge_samples_give_r_table(times, events, expected):
    assert _triple(fit_km(times, events)) == expected


def test_landmarks_at_ties_and_time_zero_match_r_summary():
    tied = fit_km([1, 2, 3, 4, 4, 4], [1, 0, 1, 1, 0, 1]).landmark(4)
    assert (tied.survival, tied.lower, tied.upper, tied.at_risk) == pytest.approx(
        (0.208333333333333, 0.00873747414868987, 0.59506184903757, 3), abs=1e-12)
    zero = fit_km([0, 0, 1, 2, 3], [1, 0, 1, 0, 1])
    at0, at1 = zero.landmark(0), zero.landmark(1)
    assert (at0.survival, at0.lower, at0.upper, at0.at_risk) == pytest.approx(
        (0.8, 0.2038092632676393, 0.969179788866743, 5), abs=1e-12)
    assert (at1.survival, at1.lower, at1.upper, at1.at_risk) == pytest.approx(
        (0.533333333333333, 0.0683320878472029, 0.863071182738792, 3), abs=1e-12)
    before = fit_km([2, 3], [1, 0]).landmark(1)   # before the first time: R prints 1 (1–1)
    assert (before.survival, before.lower, before.upper) == (1.0, 1.0, 1.0)
    plateau = fit_km([1, 2, 3], [0, 1, 1]).landmark(1.5)  # S = 1 after a censoring: R NA
    assert plateau.survival == 1 and math.isnan(plateau.lower) and math.isnan(plateau.upper)


def test_landmark_past_the_last_observation_is_not_estimable():
    km = fit_km([1, 2, 3, 8.2], [1, 0, 1, 0])
    late = km.landmark(12)
    assert not late.estimable and late.at_risk == 0 and math.isnan(late.survival)
    assert late.reason == "no patient at risk: last observed time 8.2"
    assert late.text() == "NE (no patient at risk: last observed time 8.2)"
    assert km.landmark(8.2).estimable and km.landmark(8.2).at_risk == 1
    with pytest.raises(Exception, match="landmark time"):
        km.landmark(-1)


def test_aalen_johansen_reaching_one_prints_r_band():
    """Ten cause-1 events at 0.1-0.3 (found by hypothesis): R 4.2.2 / survival 3.5-3,
    conf.type="log-log", prints CIF 0.7, 0.9, 1 with bands 0.3287-0.8919, 0.4730-0.9853, 1-1."""
    got = cumulative_incidence([0.1] * 6 + [0.2, 0.1, 0.2, 0.3], [1] * 10)
    got = got[got["time"] > 0]
    assert got["cumulative_incidence"].tolist() == pytest.approx([0.7, 0.9, 1.0])
    assert got["lower"].tolist() == pytest.approx([0.3287166, 0.4730093, 1.0], abs=1e-7)
    assert got["upper"].tolist() == pytest.approx([0.8919490, 0.9852814, 1.0], abs=1e-7)


def test_aalen_johansen_keeps_events_at_time_zero():
    """t = 0, 1, 2, 3 with causes 1, 0, 1, 2: R 0.25, 0.25, 0.625, 0.625 (log-log band)."""
    got = cumulative_incidence([0, 1, 2, 3], [1, 0, 1, 2])
    assert got["time"].tolist() == [0, 1, 2, 3]
    assert got["cumulative_incidence"].tolist() == pytest.approx([0.25, 0.25, 0.625, 0.625])
    assert got["std_err"].tolist() == pytest.approx([0.21650635094611] * 2 + [0.28641098093474] * 2)
    assert got["lower"].tolist() == pytest.approx([0.00894782441660317] * 2
                                                  + [0.04170669343687313] * 2)
    assert got["upper"].tolist() == pytest.approx([0.665325342788865] * 2 + [0.932832121548776] * 2)


def test_cif_band_before_the_first_event_is_na_and_past_the_data_not_estimable():
    """Censorings before the first event: R's band is NA where the incidence is 0."""
    got = cumulative_incidence([1, 2, 3, 4, 5], [0, 0, 1, 2, 0], times=[1, 2, 3, 6])
    assert got["cumulative_incidence"].iloc[:2].tolist() == [0.0, 0.0]
    assert got["lower"].iloc[:2].isna().all() and got["upper"].iloc[:2].isna().all()
    assert (got["lower"].iloc[2], got["upper"].iloc[2]) == pytest.approx(
        (0.00896162833097908, 0.774148650360833))
    assert math.isnan(got["cumulative_incidence"].iloc[3]) and got["at_risk"].iloc[3] == 0
    assert got["reason"].tolist() == ["", "", "", "no patient at risk: last observed time 5.0"]


VETERAN_TIME = [
    72, 411, 228, 126, 118, 10, 82, 110, 314, 100, 42, 8, 144, 25, 11, 30, 384, 4, 54, 13, 123,
    97, 153, 59, 117, 16, 151, 22, 56, 21, 18, 139, 20, 31, 52, 287, 18, 51, 122, 27, 54, 7, 63,
    392, 10, 8, 92, 35, 117, 132, 12, 162, 3, 95, 177, 162, 216, 553, 278, 12, 260, 200, 156,
    182, 143, 105, 103, 250, 100, 999, 112, 87, 231, 242, 991, 111, 1, 587, 389, 33, 25, 357,
    467, 201, 1, 30, 44, 283, 15, 25, 103, 21, 13, 87, 2, 20, 7, 24, 99, 8, 99, 61, 25, 95, 80,
    51, 29, 24, 18, 83, 31, 51, 90, 52, 73, 8, 36, 48, 7, 140, 186, 84, 19, 45, 80, 52, 164,
    19, 53, 15, 43, 340, 133, 111, 231, 378, 49]
VETERAN_CENSORED = {9, 13, 20, 21, 63, 71, 72, 90, 109}   # 0-based rows with status 0


def test_cox_converges_to_r_on_veteran():
    """coxph(Surv(time, status) ~ trt, veteran): HR 1.01790090393894 (0.714375526106933–
    1.45038878345424), Wald p 0.921766194684512; lifelines' default 1e-7 stop gave 1.017856."""
    status = [0 if i in VETERAN_CENSORED else 1 for i in range(len(VETERAN_TIME))]
    hr = cox_hazard_ratio(VETERAN_TIME, status, [0] * 69 + [1] * 68)
    assert isinstance(hr, HazardRatio) and (hr.n, hr.events) == (137, 128)
    assert hr.hr == pytest.approx(1.01790090393894, abs=1e-9)
    assert (hr.lower, hr.upper) == pytest.approx((0.714375526106933, 1.45038878345424), abs=1e-9)
    assert hr.p == pytest.approx(0.921766194684512, abs=1e-9)


def test_median_time_rule_on_bare_curves():
    assert median_time([1, 2, 3], [0.8, 0.5, 0.5]) == 2            # no drop below: left end
    assert median_time([1, 2, 3], [0.8, 0.5, 0.2]) == 2.5
    assert median_time([1, 2, 3], [0.8, 0.5 + 1e-10, 0.2]) == 2.5  # within √eps of 0.5
    assert median_time([1, 2, 3], [0.9, NA, 0.7]) == INF


# --------------------------------------------------------------------------- generated samples
@st.composite
def samples(draw):
    """(times, causes): n 1–40; tiny integer pools (heavy ties, maybe time 0) or spread
    times; all events, all censored, mixed, or an event and a censoring tied at the end."""
    n = draw(st.integers(1, 40))
    pool = draw(st.sampled_from(["ties", "ties-with-0", "spread"]))
    if pool == "spread":
        times = draw(st.lists(st.integers(1, 400), min_size=n, max_size=n))
        times = [t / 10 for t in times]
    else:
        top = draw(st.integers(1, 6))
        low = 0 if pool == "ties-with-0" else 1
        times = [float(t) for t in draw(st.lists(st.integers(low, low + top), min_size=n,
                                                 max_size=n))]
    pattern = draw(st.sampled_from(["events", "censored", "mixed", "tie-at-end"]))
    if pattern == "events":
        causes = draw(st.lists(st.integers(1, 2), min_size=n, max_size=n))
    elif pattern == "censored":
        causes = [0] * n
    else:
        causes = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    if pattern == "tie-at-end" and n >= 2:
        times[0] = times[1] = max(times)
        causes[0], causes[1] = 1, 0
    return times, causes


def _same(ours, theirs, tol=1e-9):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert (np.isnan(ours) == np.isnan(theirs)).all(), (ours, theirs)
    keep = ~np.isnan(ours)
    assert np.allclose(ours[keep], theirs[keep], rtol=0, atol=tol), (ours, theirs)


PROPERTY = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(samples(), st.sampled_from(["log-log", "log"]))
def test_km_curve_median_and_landmarks_equal_the_textbook_rules(sample, conf_type):
    times, causes = sample
    events = [int(c > 0) for c in causes]
    km = fit_km(times, events, conf_type=conf_type)
    rows = ref.km_rows(times, events, conf_type)
    table = km.table.set_index("time").loc[[r[0] for r in rows]]
    _same(table[["at_risk", "survival", "lower", "upper"]].to_numpy(),
          [[r[1], r[2], r[3], r[4]] for r in rows])
    assert _triple(km) == pytest.approx(ref.km_medians(times, events, conf_type), abs=1e-12)
    for at in (0.0, float(np.median(times)), max(times) / 2, max(times), max(times) + 1):
        mark, expected = km.landmark(at), ref.km_landmark(times, events, at, conf_type)
        if expected is None:
            assert not mark.estimable and mark.at_risk == 0 and math.isnan(mark.survival)
        else:
            assert mark.estimable
            _same([mark.survival, mark.lower, mark.upper, mark.at_risk], expected)


@PROPERTY
@given(samples())
def test_reverse_km_follow_up_equals_the_textbook_rule(sample):
    times, causes = sample
    events = [int(c > 0) for c in causes]
    assert _triple(reverse_km_followup(times, events)) == pytest.approx(
        ref.km_medians(times, [1 - e for e in events]), abs=1e-12)


@PROPERTY
@given(samples(), st.sampled_from(["log-log", "log"]))
def test_aalen_johansen_equals_the_textbook_estimator(sample, conf_type):
    times, causes = sample
    got = cumulative_incidence(times, causes, conf_type=conf_type).set_index("time")
    rows = ref.aj_rows(times, causes, conf_type=conf_type)
    got = got.loc[[r[0] for r in rows]]
    _same(got["cumulative_incidence"], [r[1] for r in rows], tol=1e-12)
    _same(got[["std_err", "lower", "upper"]].to_numpy(), [r[2:] for r in rows], tol=1e-6)
    late = cumulative_incidence(times, causes, times=[max(times) + 1])
    assert late["at_risk"].iloc[0] == 0 and math.isnan(late["cumulative_incidence"].iloc[0])


# --------------------------------------------------------------------------- against R itself
R_SCRIPT = r"""
suppressMessages(library(survival))
d <- read.csv(file("stdin"))
out <- list()
for (s in unique(d$sample)) {
  x <- d[d$sample == s, ]
  for (ct in c("log-log", "log")) {
    tb <- summary(survfit(Surv(time, status) ~ 1, data = x, conf.type = ct))$table
    out[[length(out) + 1]] <- data.frame(sample = s, what = ct, at = NA, v1 = tb["median"],
                                         v2 = tb["0.95LCL"], v3 = tb["0.95UCL"], v4 = NA)
  }
  if (any(x$cause == 1) && any(x$cause != 1)) {
    a <- survfit(Surv(time, factor(cause, 0:2)) ~ 1, data = x, conf.type = "log-log")
    j <- which(a$states == "1")
    out[[length(out) + 1]] <- data.frame(sample = s, what = "cif", at = a$time,
                                         v1 = a$pstate[, j], v2 = a$lower[, j],
                                         v3 = a$upper[, j], v4 = a$std.err[, j])
  }
}
write.csv(do.call(rbind, out), stdout(), row.names = FALSE)
"""


def _rscript_with_survival() -> str | None:
    exe = shutil.which("Rscript")
    if exe is None:
        return None
    probe = subprocess.run([exe, "-e", "library(survival)"], capture_output=True, timeout=60)
    return exe if probe.returncode == 0 else None


def test_ours_and_the_textbook_rules_equal_r_on_random_samples():
    """60 random samples through R's survfit (the 3,000-sample run is in docs/analysis.md);
    skipped, saying so, where R is not installed."""
    exe = _rscript_with_survival()
    if exe is None:
        pytest.skip("Rscript with the survival package is not installed "
                    "(apt-get install r-base-core r-cran-survival) — R cross-check not run")
    rng = np.random.default_rng(19)
    rows = []
    for s in range(60):
        n = int(rng.integers(1, 41))
        t = rng.integers(0 if s % 3 == 0 else 1, int(rng.integers(2, 9)), n).astype(float)
        c = np.where(rng.random(n) < rng.uniform(0, 0.9), 0, rng.integers(1, 3, n))
        rows += [(s, a, int(b > 0), int(b)) for a, b in zip(t, c, strict=True)]
    data = pd.DataFrame(rows, columns=["sample", "time", "status", "cause"])
    done = subprocess.run([exe, "-e", R_SCRIPT], input=data.to_csv(index=False), text=True,
                          capture_output=True, timeout=600, check=True)
    from io import StringIO

    r = pd.read_csv(StringIO(done.stdout))
    for s, x in data.groupby("sample"):
        rr = r[r["sample"] == s]
        t, e, k = x["time"].tolist(), x["status"].tolist(), x["cause"].tolist()
        for ct in ("log-log", "log"):
            want = rr[rr["what"] == ct][["v1", "v2", "v3"]].to_numpy(float)[0]
            want = np.where(np.isnan(want), INF, want)   # R's NA = not reached
            assert _triple(fit_km(t, e, conf_type=ct)) == pytest.approx(want, abs=1e-12)
            assert ref.km_medians(t, e, ct) == pytest.approx(want, abs=1e-12)
        cif = rr[rr["what"] == "cif"]
        if len(cif):
            want = cif[["v1", "v4", "v2", "v3"]].to_numpy(float)
            got = cumulative_incidence(t, k, times=cif["at"].to_numpy())
            _same(got[["cumulative_incidence", "std_err", "lower", "upper"]].to_numpy(), want)
            _same([r_[1:] for r_ in ref.aj_rows(t, k)], want, tol=1e-6)
