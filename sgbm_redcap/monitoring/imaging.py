"""Missed scans against the imaging schedule: brain imaging every 4–8 weeks from SG start
until intracranial progression, death or the reference date (DOMAIN: the protocol's
schedule). An interval between two brain scans longer than 8 weeks plus 2 weeks' grace (70
days) is overdue; so is the time since the last scan of a patient still under imaging at the
reference date once it passes 70 days. The rate is overdue intervals / intervals (closed
ones, plus open ones that are overdue)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sgbm_redcap.monitoring.frames import dates, form_rows
from sgbm_redcap.monitoring.sites import Sites
from sgbm_redcap.study_codes import VitalStatus

SCHEDULE_MAX_DAYS = 56
GRACE_DAYS = 14
OVERDUE_DAYS = SCHEDULE_MAX_DAYS + GRACE_DAYS
#: the raw columns read: of the base row, of each intracranial assessment
BASE_FIELDS = ("sg_start_date", "ipd_date", "death_date", "vital_status")
SCAN_FIELDS = ("ia_date",)


def scan_intervals(raw: pd.DataFrame, sites: Sites, *, ref: date) -> pd.DataFrame:
    """One row per scan interval: record, site, start, end, days, open, overdue."""
    at = pd.Timestamp(ref)
    base = form_rows(raw, None, list(BASE_FIELDS))
    base["start"] = dates(base["sg_start_date"])
    base = base[base["start"].notna() & (base["start"] <= at)]
    stop = pd.concat([dates(base["ipd_date"]), dates(base["death_date"])], axis=1).min(axis=1)
    base["stop"] = stop.fillna(at).clip(upper=at)
    base["ongoing"] = stop.isna() & (base["vital_status"] != VitalStatus.LOST_TO_FOLLOW_UP)
    scans = form_rows(raw, "intracranial_assessment", list(SCAN_FIELDS))
    scans["date"] = dates(scans["ia_date"])
    scans = scans.merge(base[["record_id", "start", "stop"]], on="record_id")
    # the baseline scan (before SG start) opens the first interval from SG start
    scans = scans[scans["date"].notna() & (scans["date"] <= scans["stop"])]
    scans["date"] = scans["date"].clip(lower=scans["start"])
    scans = scans.sort_values(["record_id", "date"]).drop_duplicates(["record_id", "date"])
    prev = scans.groupby("record_id")["date"].shift()
    closed = pd.DataFrame({"record_id": scans["record_id"], "start": prev,
                           "end": scans["date"], "open": False}).dropna(subset=["start"])
    last = scans.groupby("record_id")["date"].max()
    ongoing = base.set_index("record_id")
    ongoing = ongoing[ongoing["ongoing"]]
    tail = pd.DataFrame({"record_id": ongoing.index, "start": ongoing.index.map(last).to_numpy(),
                         "end": at, "open": True}).dropna(subset=["start"])
    out = pd.concat([closed, tail], ignore_index=True)
    out["days"] = (pd.to_datetime(out["end"]) - pd.to_datetime(out["start"])).dt.days
    out["overdue"] = out["days"] > OVERDUE_DAYS
    out = out[~out["open"] | out["overdue"]]
    out["site"] = sites.map(out["record_id"])
    return out.reset_index(drop=True)
