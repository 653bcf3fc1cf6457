"""Time-to-event endpoints from SG start, with the event or censoring reason per patient
(DOMAIN §5.3, censoring table adapted from the FDA endpoints guidance).

Conventions:

* origin: ``sg_start_date`` (first dose when blank); duration in days = date − origin + 1
  (ADaM: the SG start day is day 1, so "censored at day 1" = 1); months = days / 30.4375;
* a data **cut-off** removes every dated item after it before anything is derived, and
  censors administratively: a patient known alive after the cut-off is alive at the cut-off;
* an assessment is *adequate* when its response (investigator's by default, or derived) is
  CR, PR, SD, NON-CR/NON-PD or PD;
* intracranial PD date: the earliest of ``follow_up.ipd_date`` (radiological or clinical) and
  the first PD assessment; an equivocal new lesion later confirmed (``ia_new_confirmed`` =
  Confirmed, or a run of equivocal scans ending in a PD scan with a new lesion) dates PD to
  the first scan that showed it;
* new anticancer therapy (``subsequent_therapy``, or CNS local therapy during SG not given
  for progression) before the event: censored at the last adequate assessment before it;
* an event more than ``max_gap_days`` (default 112 = 16 weeks, ≥ 2 missed 4–8-weekly scans)
  after the previous adequate assessment: censored at that assessment (``max_gap_days=None``
  counts it as an event — the sensitivity analysis);
* no post-baseline assessment and no event: censored at day 1.

Endpoints: ``ipfs`` (intracranial PD or death), ``pfs`` (PD in either compartment or death),
``os`` (death), ``idor`` (responders: first CR/PR to intracranial PD or death). The ``ipfs``
rows also carry ``event_type`` for the competing-risk analysis: 1 intracranial PD,
2 death without intracranial PD, 0 censored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.inputs import StudyData, prepare
from sgbm_redcap.analysis.rano import RESPONSE_CODES, rano_timepoints
from sgbm_redcap.analysis.recist import recist_timepoints
from sgbm_redcap.analysis.sets import first_doses
from sgbm_redcap.study_codes import (
    DAYS_PER_MONTH,
    INSTANCE_DATES,
    AssessmentType,
    CmCategory,
    NewLesion,
    NewLesionConfirmed,
    VitalStatus,
    YesNo,
)

logger = logging.getLogger(__name__)

ADEQUATE = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD")
ENDPOINT_COLUMNS = ["record_id", "endpoint", "start_date", "end_date", "days", "months",
                    "event", "event_type", "reason"]

# dated fields per form: rows (repeating) or values (single) after the cut-off are dropped
#: the repeating forms whose instances dated after the cut-off are dropped, by the date that
#: places an instance in time (:data:`~sgbm_redcap.study_codes.INSTANCE_DATES`)
_DATED = {form: INSTANCE_DATES[form] for form in (
    "sg_administration", "intracranial_assessment", "extracranial_assessment",
    "adverse_events", "concomitant_care", "subsequent_therapy")}
_SINGLE_DATES = {"follow_up": ("ipd_date", "epd_date", "death_date", "last_contact_date",
                               "ltfu_date"),
                 "end_of_treatment": ("eot_last_dose_date",),
                 # SG started after the cut-off is not known at it: the patient is not yet
                 # treated (the doses go with the rows dated after the cut-off)
                 "sg_treatment": ("sg_start_date",)}


@dataclass(frozen=True)
class EndpointRules:
    """Options of the endpoint derivation (defaults = the primary analysis)."""

    response_source: str = "investigator"  # or "derived"
    max_gap_days: int | None = 112
    censor_at_new_therapy: bool = True


def apply_cutoff(tables: Any, cutoff: Any) -> StudyData:
    """A copy of the study without anything dated after ``cutoff`` (``None``: unchanged).

    Patients screened after the cut-off (the enrolment date standing in for a missing
    screening date) are not in the copy at all; an enrolment dated after it is blanked (the
    patient was screened, not yet enrolled, at the cut-off), and so is an SG start dated
    after it (enrolled, not yet treated).

    The dropped values are remembered in ``follow_up['known_alive_after_cutoff']`` so OS can
    censor at the cut-off those patients who were seen alive after it.
    """
    study = prepare(tables)
    if cutoff is None:
        return study
    cut = pd.Timestamp(cutoff)
    forms = _screened_by(study.forms, cut)
    for form, column in _DATED.items():
        frame = forms[form]
        forms[form] = frame[~(frame[column] > cut)].reset_index(drop=True)
    fu = forms["follow_up"].copy()
    later = pd.Series(False, index=fu.index)
    for column in ("last_contact_date", "death_date"):
        later |= fu[column] > cut
    died_later = fu["vital_status"].eq(VitalStatus.DEAD) & (fu["death_date"] > cut)
    if "known_alive_after_cutoff" in fu.columns:  # the cut-off was applied before
        later |= fu["known_alive_after_cutoff"].fillna(False).astype(bool)
    for form, columns in _SINGLE_DATES.items():
        frame = forms[form].copy() if form != "follow_up" else fu
        for column in columns:
            frame.loc[frame[column] > cut, column] = pd.NaT
        forms[form] = frame
    fu.loc[died_later, "vital_status"] = VitalStatus.ALIVE.value  # alive at the cut-off
    fu["known_alive_after_cutoff"] = later
    forms["follow_up"] = fu
    logger.debug("cut-off %s applied", cut.date())
    reasons = study.missing_reasons
    if len(reasons):  # the reasons of the patients still in the copy
        reasons = reasons[reasons["record_id"].astype(str).isin(
            forms["enrolment"]["record_id"].astype(str))]
    return StudyData(forms, study.labels, reasons)


def _screened_by(forms: dict[str, pd.DataFrame], cut: pd.Timestamp
                 ) -> dict[str, pd.DataFrame]:
    """``forms`` without the patients who came in after ``cut``, enrolment dates after it
    blanked. Records without either date are kept (nothing says they came in later)."""
    enrol = forms["enrolment"]
    came_in = enrol["screening_date"].fillna(enrol["enrol_date"])
    later = set(enrol.loc[came_in > cut, "record_id"])
    out = {name: frame[~frame["record_id"].isin(later)].reset_index(drop=True)
           if later else frame for name, frame in forms.items()}
    enrol = out["enrolment"].copy()
    enrol.loc[enrol["enrol_date"] > cut, "enrol_date"] = pd.NaT
    out["enrolment"] = enrol
    if later:
        logger.debug("cut-off %s: %d patients screened later left out", cut.date(),
                     len(later))
    return out


def derive_endpoints(tables: Any, *, cutoff: Any = None, rules: EndpointRules = EndpointRules(),
                     responders: pd.DataFrame | None = None,
                     timepoints: tuple[pd.DataFrame, pd.DataFrame] | None = None
                     ) -> pd.DataFrame:
    """Long table: one row per record and endpoint (``ENDPOINT_COLUMNS``).

    ``responders``: optional frame ``record_id``, ``response_date`` (first CR/PR) for iDoR
    (see :func:`response_dates`); without it no iDoR rows are made.
    ``timepoints``: the (intracranial, extracranial) time-point frames when already derived
    on the same cut data, to avoid deriving them twice.
    """
    study = apply_cutoff(tables, cutoff)
    cut = pd.Timestamp(cutoff) if cutoff is not None else None
    per = study.one_per_record("sg_treatment", "follow_up", "end_of_treatment")
    per = per.join(first_doses(study), on="record_id")
    per["origin"] = per["sg_start_date"].fillna(per["first_dose"])
    origin = per.set_index("record_id")["origin"]
    if timepoints is None:
        timepoints = (rano_timepoints(study, origin), recist_timepoints(study, origin))
    ia = _by_record(_responses(timepoints[0], rules.response_source))
    ea = _by_record(_responses(timepoints[1], rules.response_source))
    ia_raw = _by_record(study["intracranial_assessment"])
    ea_raw = _by_record(study["extracranial_assessment"])
    empty_resp = pd.DataFrame({"record_id": [], "date": pd.Series(dtype="datetime64[ns]"),
                               "response": []})
    therapy = _new_therapy(study)
    last_alive = _last_known_alive(study)
    resp_date = (responders.set_index("record_id")["response_date"]
                 if responders is not None else pd.Series(dtype="datetime64[ns]"))
    rows: list[dict] = []
    for rec in per.itertuples(index=False):
        if pd.isna(rec.origin):
            logger.info("record %s has no SG start date: no endpoints", rec.record_id)
            continue
        rid, start = rec.record_id, rec.origin
        ia_p, ea_p = ia.get(rid, empty_resp), ea.get(rid, empty_resp)
        ia_p = ia_p[ia_p.date > start]
        ea_p = ea_p[ea_p.date > start]
        ipd = _first_pd(ia_p, ia_raw.get(rid), rec.ipd_date, "ia")
        epd = _first_pd(ea_p, ea_raw.get(rid), rec.epd_date, "ea")
        death = rec.death_date if rec.vital_status == VitalStatus.DEAD else pd.NaT
        new_tx = therapy.get(rid, pd.NaT)
        new_tx = new_tx if pd.notna(new_tx) and new_tx > start else pd.NaT
        ia_ok = ia_p[ia_p.response.isin(ADEQUATE)].date
        both_ok = pd.concat([ia_ok, ea_p[ea_p.response.isin(ADEQUATE)].date])
        rows.append(_progression(rid, "ipfs", start, ipd, death, ia_ok, new_tx, rules,
                                 "intracranial progression"))
        rows.append(_progression(rid, "pfs", start, _min(ipd, epd), death, both_ok, new_tx,
                                 rules, "progression"))
        rows.append(_overall_survival(rid, start, death, rec, last_alive.get(rid), cut))
        if rid in resp_date.index and pd.notna(resp_date[rid]):
            rows.append(_progression(rid, "idor", resp_date[rid], ipd, death,
                                     ia_ok[ia_ok >= resp_date[rid]], new_tx, rules,
                                     "intracranial progression"))
    out = pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)
    out["months"] = out["days"] / DAYS_PER_MONTH
    return out


def _by_record(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {rid: group for rid, group in frame.groupby("record_id", sort=False)}


def _responses(tp: pd.DataFrame, source: str) -> pd.DataFrame:
    column = "response_investigator" if source == "investigator" else "response_derived"
    return tp.assign(response=tp[column])[["record_id", "date", "response"]]


def _min(*dates: Any) -> Any:
    valid = [d for d in dates if pd.notna(d)]
    return min(valid) if valid else pd.NaT


def _first_pd(resp: pd.DataFrame, raw: pd.DataFrame | None, recorded: Any,
              prefix: str) -> Any:
    pd_scans = resp[resp.response == "PD"].date
    first = pd_scans.min() if not pd_scans.empty else pd.NaT
    if raw is None:
        return _min(first, recorded)
    raw = raw[raw[f"{prefix}_type"] != AssessmentType.BASELINE].sort_values(f"{prefix}_date")
    new = raw[f"{prefix}_new_lesion"].tolist()
    dates = raw[f"{prefix}_date"].tolist()
    if prefix == "ia":
        confirmed = raw[(raw["ia_new_lesion"] == NewLesion.EQUIVOCAL)
                        & (raw["ia_new_confirmed"] == NewLesionConfirmed.CONFIRMED)]
        first = _min(first, confirmed["ia_date"].min())
    if pd.notna(first) and first in dates:  # back-date PD to a run of equivocal scans
        k = dates.index(first)
        if new[k] == NewLesion.YES:
            while k > 0 and new[k - 1] == NewLesion.EQUIVOCAL:
                k -= 1
            first = dates[k]
    return _min(first, recorded)


def _new_therapy(study: StudyData) -> dict[str, Any]:
    st = study["subsequent_therapy"].groupby("record_id")["st_start_date"].min()
    cm = study["concomitant_care"]
    local = cm[(cm["cm_category"] == CmCategory.CNS_LOCAL_THERAPY)
               & (cm["cm_cns_for_pd"] != YesNo.YES)]
    local = local.groupby("record_id")["cm_start_date"].min()
    both = pd.concat([st, local]).groupby(level=0).min()
    return both.dropna().to_dict()


def _last_known_alive(study: StudyData) -> dict[str, Any]:
    dates = [study["follow_up"].set_index("record_id")["last_contact_date"],
             study["end_of_treatment"].set_index("record_id")["eot_last_dose_date"]]
    for form, column in _DATED.items():
        dates.append(study[form].groupby("record_id")[column].max())
    return pd.concat(dates).dropna().groupby(level=0).max().to_dict()


def _row(rid: str, endpoint: str, start: Any, end: Any, event: int, event_type: int,
         reason: str) -> dict:
    days = float((end - start).days + 1)
    return {"record_id": rid, "endpoint": endpoint, "start_date": start, "end_date": end,
            "days": days, "months": np.nan, "event": event, "event_type": event_type,
            "reason": reason}


def _progression(rid: str, endpoint: str, start: Any, progression: Any, death: Any,
                 adequate: pd.Series, new_tx: Any, rules: EndpointRules,
                 what: str) -> dict:
    event_date = _min(progression, death)
    is_pd = pd.notna(progression) and progression <= _min(death, progression)
    if (rules.censor_at_new_therapy and pd.notna(new_tx)
            and (pd.isna(event_date) or new_tx < event_date)):
        before = adequate[adequate < new_tx]
        end = before.max() if not before.empty else start
        return _row(rid, endpoint, start, end, 0, 0,
                    "censored: new anticancer therapy before " + what)
    if pd.notna(event_date):
        before = adequate[adequate < event_date]
        previous = before.max() if not before.empty else start
        gap = (event_date - previous).days
        if rules.max_gap_days is not None and gap > rules.max_gap_days:
            return _row(rid, endpoint, start, previous, 0, 0,
                        f"censored: event after >= 2 missed assessments ({gap} days)")
        if is_pd:
            return _row(rid, endpoint, start, event_date, 1, 1, what)
        return _row(rid, endpoint, start, event_date, 1, 2,
                    "death without " + what if endpoint != "os" else "death")
    if adequate.empty:
        return _row(rid, endpoint, start, start, 0, 0,
                    "censored at day 1: no post-baseline assessment")
    return _row(rid, endpoint, start, adequate.max(), 0, 0,
                "censored: no " + what + " (last adequate assessment)")


def _overall_survival(rid: str, start: Any, death: Any, rec: Any, last_alive: Any,
                      cut: pd.Timestamp | None) -> dict:
    if pd.notna(death):
        return _row(rid, "os", start, death, 1, 1, "death")
    if cut is not None and bool(getattr(rec, "known_alive_after_cutoff", False)):
        return _row(rid, "os", start, cut, 0, 0, "censored: alive at data cut-off")
    end = last_alive if last_alive is not None and pd.notna(last_alive) else start
    end = max(end, start)
    if rec.vital_status == VitalStatus.DEAD:
        return _row(rid, "os", start, end, 0, 0, "censored: death date missing")
    if rec.vital_status == VitalStatus.LOST_TO_FOLLOW_UP:
        return _row(rid, "os", start, end, 0, 0, "censored: lost to follow-up")
    return _row(rid, "os", start, end, 0, 0, "censored: alive at last contact")


def response_dates(timepoints: pd.DataFrame, bor: pd.DataFrame,
                   source: str = "investigator") -> pd.DataFrame:
    """First CR/PR assessment date of the patients whose BOR is CR or PR (iDoR start)."""
    column = "response_investigator" if source == "investigator" else "response_derived"
    hits = timepoints[timepoints[column].isin(("CR", "PR"))]
    first = hits.groupby("record_id")["date"].min()
    responders = bor[bor["response"].isin(("CR", "PR"))]["subject"]
    out = first[first.index.isin(responders)]
    return pd.DataFrame({"record_id": out.index, "response_date": out.to_numpy()})


__all__ = ["EndpointRules", "RESPONSE_CODES", "apply_cutoff", "derive_endpoints",
           "response_dates"]
