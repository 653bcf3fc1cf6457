"""A second, textbook implementation of R survival's printed numbers, for the property tests.

Written from the formulas, not from sgbm_redcap.analysis.survival and not with lifelines: plain
loops over the distinct times. It is checked against R itself in test_analysis_survival_r.py
when Rscript with the survival package is installed.

* Kaplan–Meier product limit; Greenwood's variance of log S, Σ d/(n(n−d)), infinite once S = 0.
* R's bands (survfit_confint): "log" S·exp(±z·se) capped at 1, NA at S = 0; "log-log" the
  interval of log(−log S) with se/|log S| mapped back, NA at S = 0 and S = 1.
* R's printed-table median (survmean): the first time the curve is ≤ 0.5 (NA skipped); on
  exactly 0.5, the middle of that time and the next time the curve is lower, if there is one.
* Aalen–Johansen cumulative incidence; its standard error is R's infinitesimal jackknife,
  computed here by differentiating the case-weighted estimator numerically.
"""

from __future__ import annotations

import math

NAN = math.nan
Z95 = 1.959963984540054
TOL = 2.0 ** -26  # sqrt(double eps), R's tolerance in survmean


def km_rows(times, events, conf_type="log-log"):
    """[(time, n_at_risk, survival, lower, upper)] at every distinct time of the data."""
    rows, s, var = [], 1.0, 0.0
    for time in sorted(set(times)):
        n = sum(1 for x in times if x >= time)
        d = sum(1 for x, e in zip(times, events, strict=True) if x == time and e == 1)
        if d:
            s *= (n - d) / n
            var = var + d / (n * (n - d)) if n > d else math.inf
        rows.append((time, n, s, *band(s, math.sqrt(var), conf_type)))
    return rows


def band(p, se, conf_type, z=Z95):
    if p == 0 or (conf_type == "log-log" and p >= 1):  # R: NA at 0 and 1, NaN past 1
        return NAN, NAN
    if conf_type == "log-log" and p > 1 - 1e-12:
        # a CIF at 1 up to rounding (every patient had the event): R prints 1 (1-1); the
        # numerical-derivative SE of this reference is only noise there
        return p, p
    if conf_type == "log":
        return p * math.exp(-z * se), min(1.0, p * math.exp(z * se))
    centre, half = math.log(-math.log(p)), z * se / abs(math.log(p))
    return math.exp(-_exp(centre + half)), math.exp(-_exp(centre - half))


def _exp(x):
    # exp past the float range is inf (as in R), so exp(-inf) = 0, where math.exp raises
    return math.inf if x > 709.0 else math.exp(x)


def table_median(times, values):
    points = [(x, y) for x, y in zip(times, values, strict=True) if not math.isnan(y)]
    for i, (x, y) in enumerate(points):
        if y <= 0.5 + TOL:
            if abs(y - 0.5) < TOL:
                later = [x2 for x2, y2 in points[i + 1:] if y2 < y]
                if later:
                    return (x + later[0]) / 2
            return x
    return math.inf


def km_medians(times, events, conf_type="log-log"):
    rows = km_rows(times, events, conf_type)
    x = [r[0] for r in rows]
    return tuple(table_median(x, [r[k] for r in rows]) for k in (2, 3, 4))


def km_landmark(times, events, at, conf_type="log-log"):
    """(survival, lower, upper, at_risk) at ``at``; None when nobody is at risk (R's summary
    drops such a time); before the first time R prints 1 (1–1)."""
    n = sum(1 for x in times if x >= at)
    if n == 0:
        return None
    before = [r for r in km_rows(times, events, conf_type) if r[0] <= at]
    if not before:
        return 1.0, 1.0, 1.0, n
    return before[-1][2], before[-1][3], before[-1][4], n


def aj_cif(times, causes, cause=1, weights=None):
    """[(time, cif)] at every distinct time, case weights allowed."""
    w = weights or [1.0] * len(times)
    out, s, cif = [], 1.0, 0.0
    for time in sorted(set(times)):
        n = sum(wi for x, wi in zip(times, w, strict=True) if x >= time)
        d = sum(wi for x, c, wi in zip(times, causes, w, strict=True) if x == time and c > 0)
        d1 = sum(wi for x, c, wi in zip(times, causes, w, strict=True) if x == time and c == cause)
        cif += s * (d1 / n)  # the hazard first, as R multiplies the state vector
        s *= 1 - d / n
        out.append((time, cif))
    return out


def aj_rows(times, causes, cause=1, conf_type="log-log", step=1e-6):
    """[(time, cif, std_err, lower, upper)]: std_err = √Σ_i (∂cif/∂w_i)² (central differences)."""
    base = aj_cif(times, causes, cause)
    grads = []
    for i in range(len(times)):
        up = [1.0 + (step if j == i else 0.0) for j in range(len(times))]
        down = [1.0 - (step if j == i else 0.0) for j in range(len(times))]
        hi, lo = aj_cif(times, causes, cause, up), aj_cif(times, causes, cause, down)
        grads.append([(a[1] - b[1]) / (2 * step) for a, b in zip(hi, lo, strict=True)])
    rows = []
    for j, (time, cif) in enumerate(base):
        se = math.sqrt(sum(g[j] ** 2 for g in grads))
        rows.append((time, cif, se, *band(cif, se / cif if cif > 0 else 0.0, conf_type)))
    return rows
