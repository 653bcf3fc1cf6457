"""Adverse-event reporting rates per site against the pooled rate.

Exposure is patient-months on treatment: from SG start to the last dose + 30 days (the
TEAE window), death or the reference date, whichever comes first (an ongoing patient: to
the reference date); months = days / 30.4375. A site's AEs (onset in that window) are
compared with what the pooled study-wide rate predicts for its exposure, ``E = pooled ×
patient-months``, by an exact two-sided Poisson test (p = twice the smaller tail, at most
1). The funnel plot draws the 95% and 99.8% Poisson limits around the pooled rate against
exposure (Spiegelhalter, Stat Med 2005); a site below the lower limit reports fewer AEs
than its exposure predicts: an under-reporting signal to check at source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from sgbm_redcap.monitoring.frames import dates, form_rows
from sgbm_redcap.monitoring.sites import Sites
from sgbm_redcap.study_codes import DAYS_PER_MONTH, YesNo

TEAE_WINDOW_DAYS = 30
#: the raw columns read: of the base row, of each adverse event
BASE_FIELDS = ("sg_start_date", "eot_last_dose_date", "death_date")
AE_FIELDS = ("ae_onset_date", "ae_serious")


@dataclass(frozen=True)
class Exposure:
    """Per-patient window on treatment and the AEs in it."""

    patients: pd.DataFrame  # record_id, site, start, end, months
    events: pd.DataFrame    # record_id, site, onset, serious


def exposure(raw: pd.DataFrame, sites: Sites, *, ref: date) -> Exposure:
    at = pd.Timestamp(ref)
    base = form_rows(raw, None, list(BASE_FIELDS))
    base["start"] = dates(base["sg_start_date"])
    base = base[base["start"].notna() & (base["start"] <= at)].copy()
    last = dates(base["eot_last_dose_date"]) + pd.Timedelta(days=TEAE_WINDOW_DAYS)
    end = pd.concat([last, dates(base["death_date"])], axis=1).min(axis=1)
    base["end"] = end.fillna(at).clip(upper=at)
    base["months"] = ((base["end"] - base["start"]).dt.days.clip(lower=0) / DAYS_PER_MONTH)
    base["site"] = sites.map(base["record_id"])
    ae = form_rows(raw, "adverse_events", list(AE_FIELDS))
    ae["onset"] = dates(ae["ae_onset_date"])
    ae = ae.merge(base[["record_id", "site", "start", "end"]], on="record_id")
    ae = ae[(ae["onset"] >= ae["start"]) & (ae["onset"] <= ae["end"])]
    ae["serious"] = ae["ae_serious"] == YesNo.YES
    return Exposure(base[["record_id", "site", "start", "end", "months"]].reset_index(
        drop=True), ae[["record_id", "site", "onset", "serious"]].reset_index(drop=True))


def poisson_p(observed: float, expected: float) -> float:
    """Exact two-sided Poisson p-value of ``observed`` events when ``expected`` are due."""
    if not expected > 0:
        return float("nan")
    low = stats.poisson.cdf(observed, expected)
    high = stats.poisson.sf(observed - 1, expected)
    return float(min(1.0, 2 * min(low, high)))


def funnel_limits(pooled: float, months: np.ndarray, level: float) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Lower and upper ``level`` Poisson limits of the rate at each exposure."""
    alpha = 1 - level
    mu = pooled * months
    low = stats.poisson.ppf(alpha / 2, mu) / months
    high = stats.poisson.ppf(1 - alpha / 2, mu) / months
    return low, high
