"""The study as it was known at a data cut-off: the view the report's checks, completeness
tables and query counts are computed on (docs/report.md, "As of the cut-off").

A report "as of the cut-off" judges only what was known then. Data dated after the cut-off
are out of scope, not findings, so the view removes them from the flat export:

* a patient screened after the cut-off (enrolment date when the screening date is blank) is
  not in the view;
* an instance of a repeating form dated after it (:data:`INSTANCE_DATES`: an administration,
  a scan, an adverse event, a query opened later) is not in the view;
* a form whose anchor date is after it was not yet filled in (:data:`FORM_ANCHORS`: SG
  started after the cut-off, the patient was not yet treated): all its values are blanked;
* any other date after the cut-off is blanked, and the state at the cut-off is written where
  the later date changed it (:data:`STATE_AT_CUTOFF`: a death after the cut-off leaves the
  patient alive at it, treatment ended after it was ongoing at it, an adverse event ending
  after it was ongoing, a query answered or closed after it was still open); a last contact
  after the cut-off becomes the cut-off itself (known alive at it);
* a value that states the fact of a later date (:data:`DATED_BY`) is kept but not yet
  known at the cut-off: neither missing nor a finding;
* then, as REDCap hides a field whose branching logic no longer holds, a value made hidden
  by these changes is blanked too (a cause of death once the patient is alive at the
  cut-off). Values hidden in the export itself are left alone: they are findings.

A date after the day the records were exported is no event of the study at all but a
mistake (2062 for 2026): it stays in the view, for DATE-10 to query.

The analyses (``sgbm_redcap.analysis.endpoints.apply_cutoff``) make the same cut for the
endpoints on the typed tables; this view is the flat export's, so every rule and table that
reads ``StudyTables.raw`` sees the same cut.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pandas as pd

from sgbm_redcap.source.hidden import blank_value, hide_changed
from sgbm_redcap.source.tables import INSTANCE, INSTRUMENT, StudyTables, build_tables
from sgbm_redcap.study_codes import INSTANCE_DATES

log = logging.getLogger(__name__)

#: form → the date before which the form has nothing to say
FORM_ANCHORS: dict[str, str] = {"sg_treatment": "sg_start_date"}
#: a value that states a fact of the date beside it: kept, but not yet known when that date
#: is after the cut-off (the criterion "received SG" of a patient enrolled before the first
#: dose), so neither a gap nor a finding
DATED_BY: dict[str, str] = {"inc_sg_received": "sg_start_date"}
#: a date after the cut-off → the values that held at the cut-off
STATE_AT_CUTOFF: dict[str, dict[str, str]] = {
    "death_date": {"vital_status": "1"},        # alive at the cut-off
    "ltfu_date": {"vital_status": "1"},         # still followed at the cut-off
    "eot_last_dose_date": {"eot_ongoing": "1"},  # on treatment at the cut-off
    "ae_end_date": {"ae_ongoing": "1"},          # the adverse event was ongoing
    "dq_answered_date": {"dq_status": "1"},      # the query was open
}
#: a date after the cut-off that becomes the cut-off (the patient was known alive at it)
CLAMPED = ("last_contact_date",)
#: the dates a view blanked because they were after the cut-off (``StudyTables.not_yet``)
NOT_YET_COLUMNS = ["record_id", "instance", "field"]
#: screening, then enrolment when screening is blank: when a patient came in
CAME_IN = ("screening_date", "enrol_date")


def as_of(tables: StudyTables, cutoff: date | str | None) -> StudyTables:
    """``tables`` as known at ``cutoff`` (``None``: unchanged); a view already at that
    cut-off is returned as it is. Dates after the extract (``tables.pull.pulled_at``; today
    for an export file) stay: no real event is dated after the records were exported, so
    those are mistakes for the checks to find."""
    if cutoff is None:
        return tables
    cut = pd.Timestamp(cutoff).normalize()
    if tables.as_of is not None and pd.Timestamp(tables.as_of) == cut:
        return tables
    raw, not_yet = _cut_raw(tables.raw, tables.dictionary, cut,
                            extracted=extract_day(tables.pull))
    view = build_tables(raw, tables.dictionary, repeating_forms=tables.repeating_forms,
                        pull=tables.pull, normalised=True, missing_codes=tables.missing_codes)
    return replace(view, as_of=cut.date(), not_yet=not_yet)


def in_scope(findings: pd.DataFrame, view: StudyTables) -> pd.DataFrame:
    """``findings`` of checks run on ``view`` without those about a value the view blanked
    because it was dated after the cut-off (a required date not yet known is no gap)."""
    not_yet = view.not_yet
    if not_yet is None or not len(not_yet) or not len(findings):
        return findings
    keys = set(zip(not_yet["record_id"].astype(str), not_yet["instance"].astype(int),
                   not_yet["field"], strict=True))
    hit = [(str(r), int(i or 0), str(f)) in keys for r, i, f in
           zip(findings["record_id"], findings["instance"], findings["field"], strict=True)]
    return findings[~pd.Series(hit, index=findings.index)].reset_index(drop=True)


def extract_day(pull: Any) -> date:
    """The day the records were exported (``pull.pulled_at``), today when unknown."""
    text = str(getattr(pull, "pulled_at", "") or "")
    try:
        return datetime.fromisoformat(text).date() if text else date.today()
    except ValueError:
        return date.today()


def as_of_raw(raw: pd.DataFrame, dictionary: Any, cutoff: date | str, *,
              extracted: date | None = None) -> pd.DataFrame:
    """The flat export (strings, '' blank) without what was dated after ``cutoff`` and
    not after ``extracted`` (default today: a later date is a mistake, kept)."""
    return _cut_raw(raw, dictionary, cutoff, extracted=extracted)[0]


def _cut_raw(raw: pd.DataFrame, dictionary: Any, cutoff: date | str, *,
             extracted: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`as_of_raw`, and the dates it blanked (``NOT_YET_COLUMNS``: not yet known)."""
    cut = pd.Timestamp(cutoff).normalize()
    end = pd.Timestamp(extracted or date.today()).normalize()
    rid = dictionary.record_id
    out = raw.copy()
    instr = out[INSTRUMENT].fillna("") if INSTRUMENT in out.columns else pd.Series(
        "", index=out.index)
    base = instr == ""

    def later(column: str, rows: pd.Series | None = None) -> pd.Series:
        if column not in out.columns:
            return pd.Series(False, index=out.index)
        day = pd.to_datetime(out[column].where(out[column] != ""), errors="coerce",
                             format="mixed")
        hit = (day > cut) & ~(day > end)
        return hit & rows if rows is not None else hit

    newcomers = set(out.loc[_came_in_after(out, base, cut, end), rid])
    drop = out[rid].isin(newcomers)
    for form, column in INSTANCE_DATES.items():
        drop |= later(column, instr == form)
    out = out[~drop]
    instr, base = instr[out.index], base[out.index]

    changed: set[str] = set()
    blanked: list[pd.DataFrame] = []

    def not_yet(hit: pd.Series, name: str) -> None:
        blanked.append(pd.DataFrame({
            "record_id": out.loc[hit, rid].to_numpy(),
            "instance": pd.to_numeric(out.loc[hit, INSTANCE], errors="coerce").fillna(0)
            .astype(int).to_numpy() if INSTANCE in out.columns else 0,
            "field": name}))

    for name, column in DATED_BY.items():
        hit = later(column, base)
        if hit.any() and name in out.columns:
            not_yet(hit, name)
    for form, column in FORM_ANCHORS.items():
        hit = later(column, base)
        if hit.any():
            for name in _form_columns(dictionary, form, out.columns):
                out.loc[hit, name] = blank_value(name, dictionary)
            changed |= set(_form_columns(dictionary, form, out.columns))
    for name in CLAMPED:
        hit = later(name)
        if hit.any():
            out.loc[hit, name] = cut.strftime("%Y-%m-%d")
            changed.add(name)
    closed_late = later("dq_closed_date")
    for f in dictionary:
        if not f.is_date or f.name not in out.columns or f.name in CLAMPED:
            continue
        hit = later(f.name)
        if not hit.any():
            continue
        out.loc[hit, f.name] = ""
        changed.add(f.name)
        not_yet(hit, f.name)
        for target, value in STATE_AT_CUTOFF.get(f.name, {}).items():
            if target in out.columns:
                out.loc[hit, target] = value
                changed.add(target)
    if closed_late.any() and "dq_status" in out.columns:  # closed later: answered or open
        answered = out.get("dq_answered_date", pd.Series("", index=out.index)) != ""
        out.loc[closed_late & answered, "dq_status"] = "2"
        out.loc[closed_late & ~answered, "dq_status"] = "1"
    if changed:
        hide_changed(out, dictionary, changed, raw)
    log.debug("as of %s: %d of %d rows, %d patients screened later left out", cut.date(),
              len(out), len(raw), len(newcomers))
    not_yet = (pd.concat(blanked, ignore_index=True) if blanked
               else pd.DataFrame(columns=NOT_YET_COLUMNS))
    return out.reset_index(drop=True), not_yet


def _came_in_after(out: pd.DataFrame, base: pd.Series, cut: pd.Timestamp,
                   end: pd.Timestamp) -> pd.Series:
    """Base rows of patients who came in (:data:`CAME_IN`, first filled) after ``cut``."""
    when = pd.Series("", index=out.index)
    for column in reversed(CAME_IN):
        if column in out.columns:
            when = out[column].where(out[column] != "", when)
    day = pd.to_datetime(when.where(when != ""), errors="coerce", format="mixed")
    return base & (day > cut) & ~(day > end)


def _form_columns(dictionary: Any, form: str, present: Any) -> list[str]:
    """The export columns of ``form``'s fields (and its status), those in ``present``."""
    names = [c for f in dictionary.form_fields(form) if f.name != dictionary.record_id
             for c in f.export_columns()]
    return [c for c in [*names, f"{form}_complete"] if c in set(present)]


__all__ = ["CLAMPED", "DATED_BY", "FORM_ANCHORS", "INSTANCE_DATES", "NOT_YET_COLUMNS", "STATE_AT_CUTOFF",
           "as_of", "as_of_raw", "extract_day", "in_scope"]
