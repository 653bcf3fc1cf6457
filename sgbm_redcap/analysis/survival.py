"""Kaplan–Meier, landmarks, reverse-KM follow-up and Aalen–Johansen, on top of lifelines.

Conventions (DOMAIN §0.4–0.6, §5.3):

* pointwise band: **log-log** ("exponential Greenwood", lifelines' only band, R
  ``conf.type="log-log"``) by default; ``conf_type="log"`` gives R's default band
  ``S·exp(±z·√V)`` capped at 1, for comparisons with R output;
* median CI: Brookmeyer–Crowley, i.e. where the lower / upper band first reaches 0.5;
  a limit that is never reached is ``inf`` and prints as "NR";
* median rule: ``"midpoint"`` (default) is R's and SAS's rule — when S(t) sits exactly on 0.5
  (within √eps) over a flat stretch, the median is the middle of that stretch (times 1…10,
  no censoring → 5.5); ``"left"`` is lifelines' rule (→ 5.0). The same rule is applied to
  the two CI limits, as R does. We default to the midpoint so the report agrees with R/SAS.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import AalenJohansenFitter, KaplanMeierFitter
from scipy.stats import norm

from sgbm_redcap.errors import AnalysisInputError

logger = logging.getLogger(__name__)

_TOL = math.sqrt(np.finfo(float).eps)


@dataclass(frozen=True)
class Landmark:
    """Ŝ(t) with its pointwise CI and the number still at risk at t."""

    time: float
    survival: float
    lower: float
    upper: float
    at_risk: int


@dataclass(frozen=True)
class KMResult:
    """A fitted Kaplan–Meier curve. ``table`` has one row per distinct time (0 included):
    time, at_risk, events, censored, survival, lower, upper."""

    label: str
    n: int
    events: int
    median: float
    median_lower: float
    median_upper: float
    table: pd.DataFrame
    confidence: float = 0.95
    conf_type: str = "log-log"
    median_rule: str = "midpoint"

    def median_text(self, digits: int = 1) -> str:
        """``"9.1 (5.2–NR)"``; ``"NR (12.0–NR)"`` when the median is not reached."""
        return (f"{fmt_time(self.median, digits)} ({fmt_time(self.median_lower, digits)}–"
                f"{fmt_time(self.median_upper, digits)})")

    def landmark(self, time: float) -> Landmark:
        """The curve and band at ``time`` (step function, right-continuous)."""
        rows = self.table[self.table["time"] <= time]
        last = rows.iloc[-1]
        return Landmark(float(time), float(last["survival"]), float(last["lower"]),
                        float(last["upper"]), at_risk(self.durations_at_risk, time))

    @property
    def durations_at_risk(self) -> np.ndarray:
        return self.table.attrs["durations"]


def fmt_time(value: float, digits: int = 1) -> str:
    """A time for a report: "NR" when not reached (inf) or not estimable (NaN)."""
    if value is None or not np.isfinite(value):
        return "NR"
    return f"{value:.{digits}f}"


def at_risk(durations: Sequence[float] | np.ndarray, time: float) -> int:
    """Patients still under observation at ``time`` (duration ≥ time), as R counts them."""
    return int(np.sum(np.asarray(durations, dtype=float) >= time))


def _validate(durations, events) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=float)
    if t.shape != e.shape:
        raise AnalysisInputError("durations and events differ in length", column="events")
    if t.size == 0:
        raise AnalysisInputError("no patients to fit a Kaplan-Meier curve on", column="durations")
    if np.isnan(t).any():
        raise AnalysisInputError(f"{int(np.isnan(t).sum())} durations are missing",
                                 column="durations")
    if (t < 0).any():
        raise AnalysisInputError(f"{int((t < 0).sum())} durations are negative",
                                 column="durations")
    if np.isnan(e).any() or not np.isin(e, (0, 1)).all():
        raise AnalysisInputError("events must be 0/1 without gaps", column="events")
    return t, e.astype(int)


def fit_km(
    durations: Sequence[float] | np.ndarray | pd.Series,
    events: Sequence[int] | np.ndarray | pd.Series,
    *,
    label: str = "KM",
    confidence: float = 0.95,
    conf_type: str = "log-log",
    median_rule: str = "midpoint",
) -> KMResult:
    """Fit a Kaplan–Meier curve; no events is allowed (median "NR"), no patients is not."""
    if conf_type not in ("log-log", "log"):
        raise AnalysisInputError(f"conf_type must be 'log-log' or 'log', got {conf_type!r}")
    if median_rule not in ("midpoint", "left"):
        raise AnalysisInputError(f"median_rule must be 'midpoint' or 'left', got {median_rule!r}")
    t, e = _validate(durations, events)
    kmf = KaplanMeierFitter(alpha=1 - confidence).fit(t, e, label=label)
    et = kmf.event_table
    table = pd.DataFrame({
        "time": et.index.to_numpy(dtype=float),
        "at_risk": et["at_risk"].to_numpy(dtype=int),
        "events": et["observed"].to_numpy(dtype=int),
        "censored": et["censored"].to_numpy(dtype=int),
        "survival": kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float),
    })
    if conf_type == "log-log":
        band = kmf.confidence_interval_
        table["lower"] = band.iloc[:, 0].to_numpy(dtype=float)
        table["upper"] = band.iloc[:, 1].to_numpy(dtype=float)
    else:
        table["lower"], table["upper"] = _log_band(table, confidence)
    table.attrs["durations"] = t
    xmax = float(t.max())
    median = _quantile_time(table["time"], table["survival"], median_rule, xmax)
    lower = _quantile_time(table["time"], table["lower"], median_rule, xmax)
    upper = _quantile_time(table["time"], table["upper"], median_rule, xmax)
    return KMResult(label, int(t.size), int(e.sum()), median, lower, upper, table,
                    confidence, conf_type, median_rule)


def _log_band(table: pd.DataFrame, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """R's default ``conf.type="log"``: S·exp(±z·√V), V = Σ d/(n(n−d)), upper capped at 1."""
    n, d, s = (table[c].to_numpy(dtype=float) for c in ("at_risk", "events", "survival"))
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(d > 0, d / (n * (n - d)), 0.0)
    var = np.cumsum(step)
    z = norm.ppf(1 - (1 - confidence) / 2)
    with np.errstate(invalid="ignore", over="ignore"):
        lower = s * np.exp(-z * np.sqrt(var))
        upper = np.minimum(s * np.exp(z * np.sqrt(var)), 1.0)
    undefined = (s <= 0) | ~np.isfinite(var)
    lower[undefined], upper[undefined] = np.nan, np.nan
    return lower, upper


def _quantile_time(times: pd.Series, curve: pd.Series, rule: str, xmax: float,
                   p: float = 0.5) -> float:
    """First time the curve reaches ``p`` (inf if never); see the module note on the rule."""
    x = np.asarray(times, dtype=float)
    y = np.asarray(curve, dtype=float)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    if y.size == 0:
        return math.inf
    jump = np.r_[True, np.diff(y) != 0]  # drop censor-only rows (duplicate values)
    x, y = x[jump], y[jump]
    hit = np.flatnonzero(y <= p + _TOL)
    if hit.size == 0:
        return math.inf
    i = int(hit[0])
    if rule == "midpoint" and abs(y[i] - p) < _TOL:
        return (x[i] + x[i + 1]) / 2 if i + 1 < x.size else (x[i] + xmax) / 2
    return float(x[i])


def reverse_km_followup(durations, events, **kwargs) -> KMResult:
    """Median follow-up by reverse Kaplan–Meier (Schemper & Smith 1996): the censored are
    the "events" and the deaths are censored."""
    t, e = _validate(durations, events)
    return fit_km(t, 1 - e, **{"label": "reverse KM follow-up", **kwargs})


def cumulative_incidence(
    durations, event_types, *, event_of_interest: int = 1, times: Sequence[float] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of ``event_of_interest`` with competing events.

    ``event_types``: 0 censored, ``event_of_interest`` the event, any other positive code a
    competing event (e.g. 1 intracranial PD, 2 death without intracranial PD). Returns one row
    per requested time (or per distinct time when ``times`` is empty) with the cumulative
    incidence, its delta-method CI (lifelines) and the number at risk.
    """
    t = np.asarray(durations, dtype=float)
    k = np.asarray(event_types, dtype=float)
    if t.size == 0 or np.isnan(t).any() or np.isnan(k).any() or (t < 0).any():
        raise AnalysisInputError("durations/event types must be complete and non-negative",
                                 column="durations")
    # lifelines breaks tied event times by random jitter; keep it tiny and seeded, and move
    # censored times just past the jitter so a patient censored at t stays at risk for the
    # events at t (the usual convention), which keeps the estimate equal to the exact one.
    jitter = 1e-7 * max(1.0, float(t.max()))
    t_fit = np.where(k == 0, t + 3 * jitter, t)
    ajf = AalenJohansenFitter(jitter_level=jitter, seed=20240801, alpha=1 - confidence,
                              calculate_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines warns when it jitters tied times
        ajf.fit(t_fit, k.astype(int), event_of_interest=event_of_interest)
    cif = ajf.cumulative_density_.iloc[:, 0]
    band = ajf.confidence_interval_.ffill().fillna(0.0)
    grid = np.asarray(times, dtype=float) if len(times) else np.unique(np.r_[0.0, t])
    rows = []
    for g in grid:
        upto = cif.index <= g + 5 * jitter
        if not upto.any():
            rows.append((g, 0.0, 0.0, 0.0, at_risk(t, g)))
            continue
        pos = np.flatnonzero(upto)[-1]
        rows.append((g, float(cif.iloc[pos]), float(band.iloc[pos, 0]),
                     float(band.iloc[pos, 1]), at_risk(t, g)))
    out = pd.DataFrame(rows, columns=["time", "cumulative_incidence", "lower", "upper",
                                      "at_risk"])
    return out


@dataclass(frozen=True)
class HazardRatio:
    """A two-group Cox hazard ratio (the group coded 1 against the group coded 0)."""

    hr: float
    lower: float
    upper: float
    p: float
    n: int
    events: int


def cox_hazard_ratio(durations, events, group, *, confidence: float = 0.95,
                     ) -> HazardRatio | None:
    """Hazard ratio of ``group`` == 1 against ``group`` == 0 from a Cox model (lifelines
    ``CoxPHFitter``: Efron ties, Wald CI and p), as DOMAIN §5.5 asks for a subgroup contrast.
    None when the model cannot be estimated: a group without patients or no event at all."""
    from lifelines import CoxPHFitter

    t, e = _validate(durations, events)
    g = np.asarray(group, dtype=float)
    if len(g) != len(t):
        raise AnalysisInputError("group and durations differ in length", column="group")
    if not e.any() or not (g == 1).any() or not (g == 0).any():
        return None
    frame = pd.DataFrame({"t": t, "e": e, "g": g})
    fitter = CoxPHFitter(alpha=1 - confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny groups
        fitter.fit(frame, duration_col="t", event_col="e")
    s = fitter.summary.loc["g"]
    lower_col = next(c for c in s.index if c.startswith("exp(coef) lower"))
    upper_col = next(c for c in s.index if c.startswith("exp(coef) upper"))
    return HazardRatio(float(s["exp(coef)"]), float(s[lower_col]), float(s[upper_col]),
                       float(s["p"]), int(len(t)), int(e.sum()))
