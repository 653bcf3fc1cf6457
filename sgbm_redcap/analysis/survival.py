"""Kaplan–Meier, landmarks, reverse-KM follow-up, Aalen–Johansen and the two-group Cox model.

Every number here is meant to equal what R's ``survival`` (3.5-3) prints for the same data —
``print(survfit(...))`` / ``summary(fit)$table`` for medians, ``summary(fit, times=)`` for
landmarks, ``survfit(Surv(t, factor(k)) ~ 1)`` for cumulative incidence, ``coxph`` for hazard
ratios — on every sample size, including all events, all censored, one patient, events and
censorings tied at the last time, and events at time 0 (issue 19; rules and examples in
docs/analysis.md). lifelines gives the Kaplan–Meier estimate and fits the Cox model; the
bands, the medians and the Aalen–Johansen estimate are computed here.

* Pointwise band (R ``survfit_confint``): Greenwood's variance of log Ŝ, V = Σ d/(n(n−d)),
  which is infinite once Ŝ = 0. ``"log-log"`` (default; R ``conf.type="log-log"``):
  exp(−exp(log(−log Ŝ) ∓ z·√V / log Ŝ)), NaN where Ŝ is 0 or 1. ``"log"`` (R's default):
  Ŝ·exp(±z·√V), upper capped at 1, NaN where Ŝ = 0. The row at time 0 added before the
  first observation is 1 (1–1), as R's ``summary(fit, times=0)`` prints it.
* Median and its CI (Brookmeyer–Crowley: where each band first reaches 0.5), R's printed-table
  rule: the first time the curve is ≤ 0.5 (within √eps); when it sits exactly on 0.5 *and drops
  below later*, the middle of that time and the time of the drop; a limit that is never reached
  (or only where the band is NaN) is ``inf`` and prints "NR". ``median_rule="left"`` always
  takes the first time (lifelines' rule).
* Landmarks: Ŝ(t) and band at the last time ≤ t, at risk = durations ≥ t; not estimable
  (NaN, with a reason) when nobody is at risk at t, i.e. t is past the last observed time.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy.stats import norm

from sgbm_redcap.errors import AnalysisInputError

logger = logging.getLogger(__name__)

_TOL = math.sqrt(np.finfo(float).eps)  # R: .Machine$double.eps^0.5
CONF_TYPES = ("log-log", "log")
#: lifelines' Newton–Raphson stops at 1e-7 by default (veteran trt HR 1.017856); at 1e-12 it
#: lands where R's coxph (eps 1e-9, full Newton steps) does: 1.017901.
COX_PRECISION = 1e-12


@dataclass(frozen=True)
class Landmark:
    """Ŝ(t) with its pointwise CI and the number still at risk at t. When the rate is not
    estimable, ``survival``/``lower``/``upper`` are NaN and ``reason`` says why."""

    time: float
    survival: float
    lower: float
    upper: float
    at_risk: int
    reason: str = ""

    @property
    def estimable(self) -> bool:
        return not self.reason

    def text(self, digits: int = 0) -> str:
        """``"71 (64–76); 156 at risk"`` in percent, or ``"NE (no patient at risk …)"``;
        a NaN confidence limit (Ŝ at 0 or 1 in the log-log band) prints "NE"."""
        if not self.estimable:
            return f"NE ({self.reason})"
        return (f"{fmt_pct(self.survival, digits)} ({fmt_pct(self.lower, digits)}–"
                f"{fmt_pct(self.upper, digits)}); {self.at_risk} at risk")


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
        """The curve and band at ``time`` (step function, right-continuous); not estimable
        past the last observed time, where nobody is at risk."""
        time = float(time)
        if not np.isfinite(time) or time < 0:
            raise AnalysisInputError(f"a landmark time must be a number ≥ 0, got {time!r}",
                                     column="time")
        durations = self.durations_at_risk
        n = at_risk(durations, time)
        if n == 0:
            last = float(np.max(durations))
            return Landmark(time, math.nan, math.nan, math.nan, 0,
                            f"no patient at risk: last observed time {last:.1f}")
        rows = self.table[self.table["time"] <= time]
        last = rows.iloc[-1]
        return Landmark(time, float(last["survival"]), float(last["lower"]),
                        float(last["upper"]), n)

    @property
    def durations_at_risk(self) -> np.ndarray:
        return self.table.attrs["durations"]


def fmt_time(value: float, digits: int = 1) -> str:
    """A time for a report: "NR" when not reached (inf) or not estimable (NaN)."""
    if value is None or not np.isfinite(value):
        return "NR"
    return f"{value:.{digits}f}"


def fmt_pct(value: float, digits: int = 0) -> str:
    """A proportion as a percentage for a report; "NE" when not estimable (NaN)."""
    if value is None or not np.isfinite(value):
        return "NE"
    return f"{100 * value:.{digits}f}"


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


def _check_options(conf_type: str, median_rule: str = "midpoint") -> None:
    if conf_type not in CONF_TYPES:
        raise AnalysisInputError(f"conf_type must be 'log-log' or 'log', got {conf_type!r}")
    if median_rule not in ("midpoint", "left"):
        raise AnalysisInputError(f"median_rule must be 'midpoint' or 'left', got {median_rule!r}")


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
    _check_options(conf_type, median_rule)
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
    n, d = table["at_risk"].to_numpy(float), table["events"].to_numpy(float)
    with np.errstate(divide="ignore"):
        se = np.sqrt(np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0)))
    lower, upper = confidence_band(table["survival"].to_numpy(float), se, confidence,
                                   conf_type)
    if not (t == 0).any():  # lifelines' row at 0 before any observation: R prints 1 (1–1)
        lower[0] = upper[0] = 1.0
    table["lower"], table["upper"] = lower, upper
    table.attrs["durations"] = t
    x = table["time"]
    return KMResult(label, int(t.size), int(e.sum()),
                    median_time(x, table["survival"], median_rule),
                    median_time(x, table["lower"], median_rule),
                    median_time(x, table["upper"], median_rule),
                    table, confidence, conf_type, median_rule)


def confidence_band(p: np.ndarray, se_log: np.ndarray, confidence: float, conf_type: str,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """R's ``survfit_confint`` for a curve ``p`` with ``se_log`` the standard error of log p
    (Greenwood for KM): NaN where R prints NA (p = 0; for log-log also p = 1)."""
    z = norm.ppf(1 - (1 - confidence) / 2)
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            xx = np.where(p == 0, np.nan, p)
            lower = np.exp(np.log(xx) - z * se_log)
            upper = np.minimum(np.exp(np.log(xx) + z * se_log), 1.0)
        else:
            xx = np.where((p == 0) | (p == 1), np.nan, p)
            loglog = np.log(-np.log(xx))
            lower = np.exp(-np.exp(loglog - z * se_log / np.log(xx)))
            upper = np.exp(-np.exp(loglog + z * se_log / np.log(xx)))
    return lower, upper


def median_time(times: Sequence[float] | pd.Series, curve: Sequence[float] | pd.Series,
                rule: str = "midpoint") -> float:
    """R's printed-table median of a step curve (``survmean``'s ``minmin``): the first time
    the curve is ≤ 0.5 (NaN values skipped); on an exact 0.5 the middle of that time and the
    first later time the curve is lower, if it ever is; ``inf`` when never reached."""
    x = np.asarray(times, dtype=float)
    y = np.asarray(curve, dtype=float)
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return math.inf
    x, y = x[keep], y[keep]
    below = np.flatnonzero(y < y[0])
    if rule == "midpoint" and abs(y[0] - 0.5) < _TOL and below.size:
        return float((x[0] + x[below[0]]) / 2)
    return float(x[0])


def reverse_km_followup(durations, events, **kwargs) -> KMResult:
    """Median follow-up by reverse Kaplan–Meier (Schemper & Smith 1996): the censored are
    the "events" and the deaths are censored."""
    t, e = _validate(durations, events)
    return fit_km(t, 1 - e, **{"label": "reverse KM follow-up", **kwargs})


def cumulative_incidence(
    durations, event_types, *, event_of_interest: int = 1, times: Sequence[float] = (),
    confidence: float = 0.95, conf_type: str = "log-log",
) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of ``event_of_interest`` with competing events,
    equal to R's ``survfit(Surv(t, factor(k)) ~ 1)``.

    ``event_types``: 0 censored, ``event_of_interest`` the event, any other positive code a
    competing event (e.g. 1 intracranial PD, 2 death without intracranial PD). Returns one row
    per requested time (or per distinct time, and 0, when ``times`` is empty): time,
    cumulative_incidence, std_err (R's infinitesimal-jackknife standard error), lower, upper
    (``conf_type`` "log-log" by default — R's ``conf.type="log-log"``, not R's default "log";
    NaN where the incidence is 0, as R), at_risk, and ``reason`` — empty, or why the time is
    not estimable (nobody at risk: past the last observed time), where the other columns are NaN.
    """
    _check_options(conf_type)
    t = np.asarray(durations, dtype=float)
    k = np.asarray(event_types, dtype=float)
    if t.size == 0 or t.shape != k.shape or np.isnan(t).any() or np.isnan(k).any() \
            or (t < 0).any() or (k < 0).any():
        raise AnalysisInputError("durations/event types must be complete, of equal length and "
                                 "non-negative", column="durations")
    grid_all, cif, se = _aalen_johansen(t, k.astype(int), event_of_interest)
    if grid_all[0] > 0:  # the curve starts at 0 before the first observation
        grid_all, cif, se = np.r_[0.0, grid_all], np.r_[0.0, cif], np.r_[0.0, se]
    with np.errstate(divide="ignore", invalid="ignore"):
        lower, upper = confidence_band(cif, np.where(se == 0, 0.0, se / cif), confidence,
                                       conf_type)
    grid = np.asarray(times, dtype=float) if len(times) else grid_all
    if np.isnan(grid).any() or (grid < 0).any():
        raise AnalysisInputError("cumulative incidence times must be numbers ≥ 0",
                                 column="times")
    pos = np.searchsorted(grid_all, grid, side="right") - 1
    last = float(t.max())
    out = pd.DataFrame({"time": grid, "cumulative_incidence": cif[pos], "std_err": se[pos],
                        "lower": lower[pos], "upper": upper[pos],
                        "at_risk": [at_risk(t, g) for g in grid]})
    past = out["at_risk"].to_numpy() == 0
    out.loc[past, ["cumulative_incidence", "std_err", "lower", "upper"]] = np.nan
    out["reason"] = np.where(past, f"no patient at risk: last observed time {last:.1f}", "")
    return out


def _aalen_johansen(t: np.ndarray, k: np.ndarray, cause: int,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CIF(t) = Σ Ŝ(t_j−)·d1_j/n_j (Ŝ the all-cause KM) at every distinct time, with R's
    infinitesimal-jackknife standard error: √Σ_i (∂CIF/∂w_i)² at unit case weights."""
    times = np.unique(t)
    risk = t[:, None] >= times[None, :]
    at = t[:, None] == times[None, :]
    event, first = at & (k[:, None] > 0), at & (k[:, None] == cause)
    n = risk.sum(axis=0).astype(float)
    h, h1 = event.sum(axis=0) / n, first.sum(axis=0) / n
    s_prev, total = 1.0, 0.0
    ds = np.zeros(t.size)    # ∂Ŝ(t_j−)/∂w_i
    dcif = np.zeros(t.size)  # ∂CIF(t_j)/∂w_i
    cif, se = np.empty(times.size), np.empty(times.size)
    for j in range(times.size):
        dh = (event[:, j] - risk[:, j] * h[j]) / n[j]
        dh1 = (first[:, j] - risk[:, j] * h1[j]) / n[j]
        dcif = dcif + ds * h1[j] + s_prev * dh1
        total += s_prev * h1[j]
        ds = ds * (1 - h[j]) - s_prev * dh
        s_prev *= 1 - h[j]
        cif[j], se[j] = total, math.sqrt(float(np.sum(dcif ** 2)))
    return times, cif, se


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
    """Hazard ratio of ``group`` == 1 against ``group`` == 0 from a Cox model, as R's
    ``coxph(Surv(t, e) ~ g)`` gives it: Efron's method for tied event times, Wald CI
    exp(β ± z·se) and Wald p, Newton–Raphson to ``COX_PRECISION`` (lifelines
    ``CoxPHFitter``). DOMAIN §5.5 asks for it for a subgroup contrast. None when the model
    cannot be estimated: a group without patients or no event at all."""
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
        fitter.fit(frame, duration_col="t", event_col="e",
                   fit_options={"precision": COX_PRECISION})
    s = fitter.summary.loc["g"]
    lower_col = next(c for c in s.index if c.startswith("exp(coef) lower"))
    upper_col = next(c for c in s.index if c.startswith("exp(coef) upper"))
    return HazardRatio(float(s["exp(coef)"]), float(s[lower_col]), float(s[upper_col]),
                       float(s["p"]), int(len(t)), int(e.sum()))
