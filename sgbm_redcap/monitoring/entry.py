"""Data-entry lag: the days from the date of a dose, a scan or an adverse event's onset to
the day REDCap's log shows the value entered (its first appearance in the log). Needs the
log (``export_logging``, Logging rights)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sgbm_redcap.monitoring.frames import dates
from sgbm_redcap.monitoring.sites import Sites

#: the event dates whose entry is timed: SG administrations, brain and body scans, AE onsets
EVENT_DATE_FIELDS = ("adm_date", "ia_date", "ea_date", "ae_onset_date")


def entry_lags(changes: pd.DataFrame, sites: Sites, *, ref: date) -> pd.DataFrame:
    """One row per event date entered by ``ref``: record, site, field, event date, entered
    (the log day) and ``lag`` in days. A value typed before its own date (a future date, a
    data error the checks report) is left out."""
    c = changes[changes["field"].isin(EVENT_DATE_FIELDS)]
    c = c[c["ts"] <= pd.Timestamp(ref) + pd.Timedelta(days=1)]
    first = c.drop_duplicates(["record", "field", "value"], keep="first")
    event = dates(first["value"])
    entered = first["ts"].dt.normalize()
    out = pd.DataFrame({"record_id": first["record"].astype(str), "field": first["field"],
                        "event_date": event, "entered": entered,
                        "lag": (entered - event).dt.days})
    out = out[out["lag"].notna() & (out["lag"] >= 0)]
    out["site"] = sites.map(out["record_id"])
    return out.reset_index(drop=True)
