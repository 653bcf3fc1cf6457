"""The synthetic study in two waves a month apart, for two data cuts (issue 15).

The cohort is simulated once, up to its extract date. :func:`first_wave` is what the sites
had entered by an earlier day: patients screened by then, rows dated up to then, and no value
from after it (a death, a progression, an end of treatment or the end of an AE later than
that day is not known yet; the last contact is the last date known). :func:`second_wave` is
what the sites enter during the month after: the rest of the cohort, as rows that bring each
record to its full state (fields the first wave set and the full cohort leaves blank are
blanked again). :func:`retrospective_corrections` is the scripted part of that month that a
steering committee must hear about: values dated before the first day, already reported,
corrected afterwards — a RANO-BM call and an AE grade.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta

from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.synthetic.cohort import Cohort

Row = dict[str, str]
#: how long after the SG start a site has entered the patient's forms
ENTRY_LAG_DAYS = 28
KEY = ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance")
#: codes written here (the synthetic package may not import study_codes' users; the codes
#: are the dictionary's: vital_status 1 alive, yesno 1 yes, ae_outcome 3 not recovered,
#: ia_rano_inv 2 PR / 3 SD, ae_grade 1-5)
ALIVE, YES, NOT_RECOVERED = "1", "1", "3"
RANO_PR, RANO_SD = "2", "3"
#: fields that follow another one: blanked with it
_DEPENDS = {"death_date": ("death_cause",), "ipd_date": ("ipd_criterion",),
            "epd_date": ("epd_criterion",), "eot_last_dose_date": ("eot_reason",)}


@dataclass(frozen=True)
class Correction:
    """One scripted retrospective change: the row, the field, the value before and after."""

    record_id: str
    form: str
    instance: str
    field: str
    old: str
    new: str
    dated: str

    def row(self) -> Row:
        return {"record_id": self.record_id, "redcap_repeat_instrument": self.form,
                "redcap_repeat_instance": self.instance, self.field: self.new}


def _key(row: Row) -> tuple[str, str, str]:
    return (row["record_id"], row.get("redcap_repeat_instrument", ""),
            str(row.get("redcap_repeat_instance", "")))


def _row_date_fields(dictionary: Dictionary) -> dict[str, str]:
    """Repeating form → its row's own date field (the form's first date field)."""
    out: dict[str, str] = {}
    for form in dictionary.forms:
        for f in dictionary.form_fields(form):
            if f.is_date and not f.identifier:
                out[form] = f.name
                break
    return out


def _truncate(row: Row, dates: set[str], day: str) -> Row:
    out = dict(row)
    for name in [n for n in out if n in dates and out[n][:10] > day]:
        out[name] = ""
        for dependent in _DEPENDS.get(name, ()):
            if dependent in out:
                out[dependent] = ""
        if name == "death_date" and "vital_status" in out:
            out["vital_status"] = ALIVE
        if name == "eot_last_dose_date":
            out["eot_ongoing"] = YES
        if name == "ae_end_date":
            out["ae_ongoing"] = YES
            if "ae_outcome" in out:
                out["ae_outcome"] = NOT_RECOVERED
    return out


def first_wave(cohort: Cohort, dictionary: Dictionary, day: date) -> Cohort:
    """The cohort as entered by ``day`` (a Cohort: ``seed_study(cohort=...)`` loads it)."""
    text = day.isoformat()
    dates = {f.name for f in dictionary.fields if f.is_date}
    row_date = _row_date_fields(dictionary)
    # a site enters a patient's forms within ENTRY_LAG_DAYS of the SG start (a screen
    # failure's of the screening)
    entered_by = (day - timedelta(days=ENTRY_LAG_DAYS)).isoformat()
    screened = {r["record_id"] for r in cohort.records
                if r.get("redcap_repeat_instrument", "") == ""
                and "" < (r.get("sg_start_date", "") or r.get("screening_date", ""))
                <= entered_by}

    def keep(rows: list[Row]) -> list[Row]:
        kept: list[Row] = []
        for row in rows:
            form = row.get("redcap_repeat_instrument", "")
            if row["record_id"] not in screened:
                continue
            if form and row.get(row_date.get(form, ""), "")[:10] > text:
                continue
            kept.append(_truncate(row, dates, text))
        last_known: dict[str, str] = {}
        for row in kept:
            for name in dates:
                value = row.get(name, "")[:10]
                if value and value <= text and name not in ("birth_date",):
                    last_known[row["record_id"]] = max(last_known.get(row["record_id"], ""),
                                                       value)
        for row in kept:
            if "last_contact_date" in row and row["last_contact_date"] == "":
                row["last_contact_date"] = last_known.get(row["record_id"], "")
        return kept

    records = keep(cohort.records)
    present = {_key(r) for r in records}
    manifest = [p for p in cohort.manifest
                if (p.record_id, p.form if p.instance else "", str(p.instance or ""))
                in present]
    return dataclasses.replace(cohort, records=records, clean_records=keep(cohort.clean_records),
                               dags={r: d for r, d in cohort.dags.items() if r in screened},
                               manifest=manifest, extract_date=day)


def second_wave(cohort: Cohort, first: Cohort) -> list[Row]:
    """The rows that bring every record from ``first`` to ``cohort`` (import them with
    ``overwriteBehavior=overwrite``): new records and rows whole, changed rows with their
    changed fields only, fields the first wave filled in and the cohort leaves blank as ''."""
    before = {_key(r): r for r in first.records}
    rows: list[Row] = []
    for row in cohort.records:
        old = before.get(_key(row))
        if old is None:
            out = dict(row)
            if out.get("redcap_repeat_instrument", "") == "":
                out["redcap_data_access_group"] = cohort.dags[row["record_id"]]
            rows.append(out)
            continue
        changed = {k: v for k, v in row.items() if k not in KEY and old.get(k, "") != v}
        changed.update({k: "" for k, v in old.items()
                        if k not in KEY and v != "" and row.get(k, "") == ""})
        if changed:
            rows.append({**{k: row[k] for k in KEY if k in row}, **changed})
    return rows


def retrospective_corrections(first: Cohort, dictionary: Dictionary,
                              day: date) -> list[Correction]:
    """Two corrections of values dated before ``day`` that the first cut holds: the first
    post-baseline RANO-BM call of PR corrected to SD (the response was not confirmed on
    review), and one AE's grade corrected upwards by one."""
    text = day.isoformat()
    found: list[Correction] = []
    for row in first.records:
        if (row.get("redcap_repeat_instrument") == "intracranial_assessment"
                and row.get("ia_rano_inv") == RANO_PR and "" < row.get("ia_date", "") <= text):
            found.append(Correction(row["record_id"], "intracranial_assessment",
                                    str(row["redcap_repeat_instance"]), "ia_rano_inv",
                                    RANO_PR, RANO_SD, row["ia_date"]))
            break
    grades = set(dictionary.get("ae_grade").choices if dictionary.get("ae_grade") else {})
    for row in first.records:
        grade = row.get("ae_grade", "")
        if (row.get("redcap_repeat_instrument") == "adverse_events" and grade.isdigit()
                and str(int(grade) + 1) in grades and int(grade) < 3
                and "" < row.get("ae_onset_date", "") <= text):
            found.append(Correction(row["record_id"], "adverse_events",
                                    str(row["redcap_repeat_instance"]), "ae_grade", grade,
                                    str(int(grade) + 1), row["ae_onset_date"]))
            break
    return found
