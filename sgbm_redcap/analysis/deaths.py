"""Deaths of the safety set with their timing against the last SG dose (DOMAIN §2.3 item 8).

A death **within 30 days of the last dose** is one whose date is no more than
:data:`DEATH_WINDOW_DAYS` days after the last SG dose given (the TEAE window of
:mod:`sgbm_redcap.analysis.safety`), the usual flag of a death listing in oncology reports.
The death date is the OS event date of :func:`sgbm_redcap.analysis.derive_endpoints` (so the
cut-off has been applied); the last dose is the exposure's ``last_dose``.
"""

from __future__ import annotations

import pandas as pd

from sgbm_redcap.analysis.safety import TEAE_WINDOW_DAYS

#: a death this many days or fewer after the last dose is flagged
DEATH_WINDOW_DAYS = TEAE_WINDOW_DAYS

DEATH_COLUMNS = ["record_id", "death_date", "months", "last_dose", "days_after_last_dose",
                 "within_30_days"]


def deaths(endpoints: pd.DataFrame, exposure: pd.DataFrame,
           population: list[str] | None = None) -> pd.DataFrame:
    """One row per patient who died (OS event) in ``population`` (default: everyone with an
    OS row): death date, months from SG start, last dose, days from the last dose to death
    and whether that is ≤ :data:`DEATH_WINDOW_DAYS` (False when no dose is recorded)."""
    os_ = endpoints[(endpoints["endpoint"] == "os") & (endpoints["event"] == 1)]
    if population is not None:
        os_ = os_[os_["record_id"].isin(population)]
    last = exposure.set_index("record_id")["last_dose"] if len(exposure) else pd.Series(
        dtype="datetime64[ns]")
    out = pd.DataFrame({"record_id": os_["record_id"].to_numpy(),
                        "death_date": pd.to_datetime(os_["end_date"]).to_numpy(),
                        "months": os_["months"].to_numpy(float)})
    out["last_dose"] = pd.to_datetime(out["record_id"].map(last))
    out["days_after_last_dose"] = (out["death_date"] - out["last_dose"]).dt.days
    days = out["days_after_last_dose"]
    out["within_30_days"] = (days.notna() & (days <= DEATH_WINDOW_DAYS)).astype(bool)
    return out[DEATH_COLUMNS].sort_values("death_date").reset_index(drop=True)
