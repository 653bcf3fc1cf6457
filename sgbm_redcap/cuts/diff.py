"""What changed from one data cut to the next (issue 15): the classes a steering committee
and an auditor ask about.

- **new patients** per site (records in the newer cut only; how many of them were enrolled by
  its cut-off), and records gone since the older cut;
- **derived endpoints** that changed for patients in both cuts: the confirmed best overall
  intracranial response, iPFS/PFS/OS (censored ↔ event, the event's date, a censoring that
  moved back or changed its reason; a censoring date that only moved forward with new
  follow-up is counted, not listed), analysis-set membership; each with the source values
  of that patient that changed in the forms the endpoint is derived from;
- **new SAEs, AESIs and deaths** (dated by the newer cut's cut-off);
- **retrospective changes**: values the older cut held for data dated on or before its
  cut-off that were changed or deleted afterwards (what the last report said may no longer
  hold), counted per site and form and listed for the critical fields, with who and when from
  REDCap's log where the newer cut has it;
- the **dictionary** change between the cuts, classified by ``dictionary.diff``; a re-cut
  (a cut-off older than the previous cut's) is allowed and named.

Two cuts of different projects (REDCap project id, registry id or record id field) are
refused (``CutMismatchError``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from sgbm_redcap.cuts.store import Cut
from sgbm_redcap.cuts.values import value_changes
from sgbm_redcap.dictionary.diff import DictionaryDiff, diff_dictionaries
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.errors import CutMismatchError
from sgbm_redcap.source.tables import DAG, INSTANCE, INSTRUMENT
from sgbm_redcap.study_codes import VitalStatus, YesNo

#: the workflow instrument: the sweep's queries, not the sites' data
QUERY_FORM = "data_queries"
#: fields that record the current state: a change after the cut-off is follow-up, not a
#: correction of what was reported (vital status only when it was "alive")
RUNNING_FIELDS = frozenset({"last_contact_date", "eot_ongoing", "ae_ongoing", "ae_outcome"})
#: the fields whose retrospective changes are listed one by one (scan dates, RANO-BM and
#: RECIST calls, progression dates, AE grades, death)
CRITICAL_FIELDS = ("ia_date", "ia_rano_inv", "ea_date", "ea_recist_inv", "ipd_date",
                   "epd_date", "ae_grade", "ae_serious", "vital_status", "death_date",
                   "death_cause")
#: the forms each derived endpoint is computed from (its "source values")
ENDPOINT_FORMS = {
    "BOR": ("intracranial_assessment", "follow_up"),
    "iPFS": ("intracranial_assessment", "follow_up", "subsequent_therapy"),
    "PFS": ("intracranial_assessment", "extracranial_assessment", "follow_up",
            "subsequent_therapy"),
    "OS": ("follow_up", "end_of_treatment"),
    "set": ("enrolment", "sg_treatment", "sg_administration", "brain_mets_baseline",
            "intracranial_assessment"),
}
ENDPOINT_NAMES = {"ipfs": "iPFS", "pfs": "PFS", "os": "OS"}
SET_NAMES = {"safety": "safety set", "fas": "full analysis set",
             "ires": "response-evaluable set"}
MAX_SOURCES = 6
#: what a diff shows for the values of an identifier field (the change is still counted)
IDENTIFIER_HIDDEN = "(identifier: not shown)"

CHANGE_COLUMNS = ["change", "record_id", "site", "form", "instance", "field", "old", "new",
                  "detail", "who", "when"]


@dataclass(frozen=True)
class CutRef:
    """One side of a diff, as the diff names it."""

    folder: str
    cutoff: date
    created_at: str
    manifest_sha256: str
    dictionary_version: str

    @classmethod
    def of(cls, cut: Cut) -> CutRef:
        return cls(cut.path.name, cut.cutoff, cut.info["created_at"], cut.manifest_sha256,
                   str(cut.info.get("dictionary_version", "")))

    def to_dict(self) -> dict[str, str]:
        return {"folder": self.folder, "cutoff": self.cutoff.isoformat(),
                "created_at": self.created_at, "manifest_sha256": self.manifest_sha256,
                "dictionary_version": self.dictionary_version}


@dataclass
class CutDiff:
    old: CutRef
    new: CutRef
    sites: dict[str, str]
    notes: list[str]
    dictionary: DictionaryDiff | None
    new_patients: pd.DataFrame  # record_id, site, enrolled
    removed_patients: pd.DataFrame  # record_id, site
    endpoints: pd.DataFrame  # record_id, site, endpoint, old, new, detail, sources
    censoring_moved_on: dict[str, int]
    events: pd.DataFrame  # change (SAE/AESI/death), record_id, site, instance, date, detail
    retrospective: pd.DataFrame  # record_id, site, form, instance, field, old, new, ...
    log_available: bool
    bor_transitions: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def recut(self) -> bool:
        return self.new.cutoff < self.old.cutoff

    def critical(self) -> pd.DataFrame:
        return self.retrospective[self.retrospective["critical"]]

    def retrospective_counts(self) -> pd.DataFrame:
        """Retrospective changes per site and form (site, form, changes, records)."""
        r = self.retrospective
        if r.empty:
            return pd.DataFrame(columns=["site", "form", "changes", "records"])
        return (r.groupby(["site", "form"], sort=True)
                .agg(changes=("field", "size"), records=("record_id", "nunique"))
                .reset_index())

    def count(self, kind: str) -> int:
        return int((self.events["change"] == kind).sum()) if len(self.events) else 0

    def summary(self) -> str:
        """One sentence quoting the changes, for the executive summary."""
        parts = [f"+{len(self.new_patients)} patient{'s' * (len(self.new_patients) != 1)}"]
        bor = self.endpoints[self.endpoints["endpoint"] == "BOR"] if len(self.endpoints) else []
        if len(bor):
            top = ", ".join(f"{n} {a}→{b}" for (a, b), n in self.bor_transitions.most_common(2))
            parts.append(f"{len(bor)} BOR{'s' * (len(bor) != 1)} changed ({top})")
        for kind, word in (("death", "new death"), ("SAE", "new SAE"), ("AESI", "new AESI")):
            n = self.count(kind)
            if n:
                parts.append(f"{n} {word}{'s' * (n != 1)}")
        events = self.endpoints[self.endpoints["endpoint"].isin(list(ENDPOINT_NAMES.values()))] \
            if len(self.endpoints) else []
        if len(events):
            parts.append(f"{len(events)} iPFS/PFS/OS change{'s' * (len(events) != 1)}")
        n_retro, n_crit = len(self.retrospective), len(self.critical())
        parts.append(f"{n_retro} retrospective change{'s' * (n_retro != 1)}"
                     + (f" ({n_crit} in critical fields)" if n_crit else ""))
        if self.dictionary is not None and self.dictionary.changes:
            parts.append(f"dictionary {self.old.dictionary_version} → "
                         f"{self.new.dictionary_version} ({self.dictionary.level})")
        if self.recut:
            parts.append("re-cut to an earlier cut-off")
        return ", ".join(parts) + f" since the cut of {self.old.cutoff.isoformat()}."

    # -- output -----------------------------------------------------------------------

    def rows(self) -> pd.DataFrame:
        """Every change as one long table (``CHANGE_COLUMNS``): the CSV of ``cut diff``."""
        out: list[dict[str, Any]] = []
        for r in self.new_patients.itertuples(index=False):
            out.append({"change": "new patient", "record_id": r.record_id, "site": r.site,
                        "detail": "enrolled" if r.enrolled else "not enrolled by the cut-off"})
        for r in self.removed_patients.itertuples(index=False):
            out.append({"change": "record removed", "record_id": r.record_id, "site": r.site})
        for r in self.endpoints.itertuples(index=False):
            out.append({"change": f"endpoint {r.endpoint}", "record_id": r.record_id,
                        "site": r.site, "old": r.old, "new": r.new,
                        "detail": "; ".join(x for x in (r.detail, r.sources) if x)})
        for r in self.events.itertuples(index=False):
            out.append({"change": f"new {r.change}", "record_id": r.record_id, "site": r.site,
                        "instance": r.instance, "new": r.date, "detail": r.detail})
        for r in self.retrospective.itertuples(index=False):
            out.append({"change": "retrospective" + (" (critical)" if r.critical else ""),
                        "record_id": r.record_id, "site": r.site, "form": r.form,
                        "instance": r.instance, "field": r.field, "old": r.old_label,
                        "new": r.new_label, "detail": f"row dated {r.dated}" if r.dated else "",
                        "who": r.who, "when": r.when})
        if self.dictionary is not None:
            for c in self.dictionary.changes:
                out.append({"change": f"dictionary {c.level}", "form": c.form,
                            "field": c.field, "old": c.old, "new": c.new,
                            "detail": f"{c.kind}: {c.detail}"})
        frame = pd.DataFrame(out, columns=CHANGE_COLUMNS)
        return frame.fillna("").astype(str)

    def to_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (v if not isinstance(v, float) or v == v else None)
                     for k, v in row.items()} for row in frame.to_dict("records")]

        return {
            "old": self.old.to_dict(), "new": self.new.to_dict(), "recut": self.recut,
            "notes": self.notes, "summary": self.summary(),
            "new_patients": records(self.new_patients),
            "new_patients_by_site": self.new_by_site().to_dict("records"),
            "removed_patients": records(self.removed_patients),
            "endpoints": records(self.endpoints),
            "censoring_moved_on": self.censoring_moved_on,
            "events": records(self.events),
            "retrospective": records(self.retrospective.drop(columns=["critical"]).assign(
                critical=self.retrospective["critical"].astype(bool))),
            "retrospective_by_site_form": self.retrospective_counts().to_dict("records"),
            "dictionary": None if self.dictionary is None else self.dictionary.to_dict(),
            "log_available": self.log_available,
        }

    def new_by_site(self) -> pd.DataFrame:
        """New records and new enrolments per site (every site of either cut)."""
        sites = sorted(set(self.sites.values()) | set(self.new_patients["site"]))
        rows = []
        for site in sites:
            sel = self.new_patients[self.new_patients["site"] == site]
            rows.append({"site": site, "new_records": len(sel),
                         "new_enrolled": int(sel["enrolled"].sum())})
        return pd.DataFrame(rows, columns=["site", "new_records", "new_enrolled"])


# --------------------------------------------------------------------------- the diff
def check_same_project(old: Cut, new: Cut) -> None:
    """Refuse two cuts of different projects (``CutMismatchError``)."""
    a, b = old.info, new.info
    checks = (("REDCap project id", a.get("project_id"), b.get("project_id")),
              ("registry id", (a.get("study") or {}).get("nct"), (b.get("study") or {}).get("nct")),
              ("record id field", a.get("record_id"), b.get("record_id")))
    for what, x, y in checks:
        if x and y and str(x) != str(y):
            raise CutMismatchError(
                f"data cuts {old.path} and {new.path} are of different projects ({what} "
                f"{x} vs {y}); only cuts of one project can be compared",
                old=str(old.path), new=str(new.path))


def diff_cuts(old: Cut, new: Cut, *, results_old: Any = None, results_new: Any = None,
              tables_new: Any = None) -> CutDiff:
    """What changed from ``old`` to ``new``. ``results_*``: the analyses of each cut at its
    own cut-off when already computed (``analysis.analyse_study``); ``tables_new``: the
    newer cut's tables when already read."""
    from sgbm_redcap.analysis import analyse_study

    check_same_project(old, new)
    raw_a, raw_b = old.raw(), new.raw()
    dict_a, dict_b = old.dictionary, new.dictionary
    rid = dict_b.record_id
    sites = {**dict(old.dags), **dict(new.dags)}
    site_of = _site_lookup(raw_a, raw_b, rid, sites)
    notes: list[str] = []
    if new.cutoff < old.cutoff:
        notes.append(f"Re-cut: the cut-off {new.cutoff.isoformat()} is earlier than the "
                     f"previous cut's ({old.cutoff.isoformat()}).")
    if new.info["created_at"] < old.info["created_at"]:
        notes.append(f"The cut {new.path.name} was made before {old.path.name}: the "
                     "comparison runs backwards in time.")
    dictionary = None
    if old.info.get("metadata_sha256") != new.info.get("metadata_sha256"):
        dictionary = diff_dictionaries(dict_a, dict_b)
    values = value_changes(raw_a, raw_b, dict_a, dict_b, skip_forms=(QUERY_FORM,))
    values["site"] = values["record_id"].map(site_of).fillna("")
    results_old = results_old or analyse_study(old.tables(), cutoff=old.cutoff)
    results_new = results_new or analyse_study(tables_new or new.tables(), cutoff=new.cutoff)
    both = set(_records(raw_a, rid)) & set(_records(raw_b, rid))
    endpoints, moved, transitions = _endpoint_changes(results_old, results_new, both, values,
                                                      dict_b, site_of)
    log_entries = new.log_entries
    if log_entries is None:
        notes.append("The newer cut holds no REDCap log (an export file, or no Logging "
                     "right): who changed a value and when is not known.")
    return CutDiff(
        old=CutRef.of(old), new=CutRef.of(new), sites=sites, notes=notes,
        dictionary=dictionary,
        new_patients=_new_patients(raw_a, raw_b, rid, site_of, new.cutoff),
        removed_patients=pd.DataFrame(
            [{"record_id": r, "site": site_of.get(r, "")}
             for r in _records(raw_a, rid) if r not in set(_records(raw_b, rid))],
            columns=["record_id", "site"]),
        endpoints=endpoints, censoring_moved_on=moved,
        events=_new_events(raw_a, raw_b, rid, dict_b, site_of, new.cutoff),
        retrospective=_retrospective(values, raw_a, rid, dict_a, dict_b, old.cutoff,
                                     log_entries, str(old.info.get("watermark", ""))),
        log_available=log_entries is not None, bor_transitions=transitions)


# --------------------------------------------------------------------------- helpers
def _records(raw: pd.DataFrame, rid: str) -> list[str]:
    return list(dict.fromkeys(raw[rid])) if len(raw) else []


def _base(raw: pd.DataFrame, rid: str) -> pd.DataFrame:
    rows = raw[raw[INSTRUMENT] == ""] if INSTRUMENT in raw.columns else raw
    return rows.drop_duplicates(rid).set_index(rid)


def _site_lookup(raw_a: pd.DataFrame, raw_b: pd.DataFrame, rid: str,
                 labels: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in (raw_a, raw_b):
        if DAG in raw.columns:
            for r, d in _base(raw, rid)[DAG].items():
                if d:
                    out[str(r)] = labels.get(str(d), str(d))
    return out


def _label(dictionary: Dictionary, name: str, column: str, value: str) -> str:
    """A value as people read it: "Grade 3 (3)"; a checkbox column (``column`` is not the
    field's name) as checked / unchecked."""
    if value == "":
        return "(blank)"
    if column != name:
        return "checked" if value == "1" else "unchecked"
    f = dictionary.get(name)
    label = f.choices.get(value) if f is not None else None
    return f"{label} ({value})" if label and label != value else value


def _short_label(dictionary: Dictionary, name: str, value: str, column: str = "") -> str:
    if column and column != name:
        return "checked" if value == "1" else "unchecked"
    f = dictionary.get(name)
    return (f.choices.get(value, value) if f is not None and value else value) or "(blank)"


def _new_patients(raw_a: pd.DataFrame, raw_b: pd.DataFrame, rid: str,
                  site_of: dict[str, str], cutoff: date) -> pd.DataFrame:
    old = set(_records(raw_a, rid))
    base = _base(raw_b, rid)
    rows = []
    for r in _records(raw_b, rid):
        if r in old:
            continue
        rec = base.loc[r] if r in base.index else None
        enrolled = bool(rec is not None and rec.get("eligible", "") == YesNo.YES
                        and "" < str(rec.get("enrol_date", "")) <= cutoff.isoformat())
        rows.append({"record_id": r, "site": site_of.get(r, ""), "enrolled": enrolled})
    return pd.DataFrame(rows, columns=["record_id", "site", "enrolled"])


def _new_events(raw_a: pd.DataFrame, raw_b: pd.DataFrame, rid: str, dictionary: Dictionary,
                site_of: dict[str, str], cutoff: date) -> pd.DataFrame:
    """AEs newly serious or AESI, patients newly dead, dated up to ``cutoff``."""
    cut = cutoff.isoformat()
    rows: list[dict[str, Any]] = []
    if INSTRUMENT in raw_b.columns and "ae_serious" in raw_b.columns:
        key = [rid, INSTANCE]
        ae_b = raw_b[raw_b[INSTRUMENT] == "adverse_events"].set_index(key)
        ae_a = (raw_a[raw_a[INSTRUMENT] == "adverse_events"].set_index(key)
                if INSTRUMENT in raw_a.columns else ae_b.iloc[0:0])
        for flag, kind in (("ae_serious", "SAE"), ("ae_aesi", "AESI")):
            if flag not in ae_b.columns:
                continue
            now = ae_b[ae_b[flag] == YesNo.YES]
            before = set(ae_a.index[ae_a[flag] == YesNo.YES]) if flag in ae_a.columns else set()
            for (r, inst), row in now.iterrows():
                onset = str(row.get("ae_onset_date", ""))
                if (r, inst) in before or onset > cut:
                    continue
                rows.append({"change": kind, "record_id": str(r), "site": site_of.get(str(r), ""),
                             "instance": str(inst), "date": onset,
                             "detail": f"{_short_label(dictionary, 'ae_term', row.get('ae_term', ''))}"
                                       f", grade {row.get('ae_grade', '') or '?'}"})
    base_b, base_a = _base(raw_b, rid), _base(raw_a, rid)
    if "vital_status" in base_b.columns:
        dead_before = (set(base_a.index[base_a["vital_status"] == VitalStatus.DEAD])
                       if "vital_status" in base_a.columns else set())
        for r, row in base_b[base_b["vital_status"] == VitalStatus.DEAD].iterrows():
            when = str(row.get("death_date", ""))
            if r in dead_before or when > cut:
                continue
            cause = _short_label(dictionary, "death_cause", str(row.get("death_cause", "")))
            rows.append({"change": "death", "record_id": str(r), "site": site_of.get(str(r), ""),
                         "instance": "", "date": when, "detail": f"cause: {cause}"})
    return pd.DataFrame(rows, columns=["change", "record_id", "site", "instance", "date",
                                       "detail"])


def _sources(values: pd.DataFrame, record: str, forms: tuple[str, ...],
             dictionary: Dictionary) -> str:
    """The patient's source values that changed in ``forms``: a row added as its date and
    critical values, a changed value as before → after (status fields left out)."""
    sel = values[(values["record_id"] == record) & values["form"].isin(forms)
                 & ~values["field"].isin(RUNNING_FIELDS | _identifiers(dictionary))]
    items = []
    added = sel[~sel["row_in_old"].astype(bool) & (sel["instance"] != "")]
    for (form, instance), rows in added.groupby(["form", "instance"], sort=False):
        shown = rows[rows["field"].isin(CRITICAL_FIELDS)]
        what = ", ".join(f"{r.field} {_short_label(dictionary, r.field, r.new, r.column)}"
                         for r in shown.itertuples(index=False))
        items.append(f"{form} #{instance} added ({what or 'no critical value'})")
    for r in sel[sel["row_in_old"].astype(bool) | (sel["instance"] == "")].itertuples(
            index=False):
        where = f"{r.form} #{r.instance}" if r.instance else r.form
        items.append(f"{where} {r.field}: {_short_label(dictionary, r.field, r.old, r.column)}"
                     f" → {_short_label(dictionary, r.field, r.new, r.column)}")
    more = len(items) - MAX_SOURCES
    return "; ".join(items[:MAX_SOURCES]) + (f"; … {more} more" if more > 0 else "")


def _endpoint_changes(a: Any, b: Any, both: set[str], values: pd.DataFrame,
                      dictionary: Dictionary, site_of: dict[str, str]
                      ) -> tuple[pd.DataFrame, dict[str, int], Counter[tuple[str, str]]]:
    rows: list[dict[str, Any]] = []
    transitions: Counter[tuple[str, str]] = Counter()

    def add(record: str, endpoint: str, old: str, new: str, detail: str, forms: str) -> None:
        rows.append({"record_id": record, "site": site_of.get(record, ""),
                     "endpoint": endpoint, "old": old, "new": new, "detail": detail,
                     "sources": _sources(values, record, ENDPOINT_FORMS[forms], dictionary)})

    bor_a = a.bor_intracranial.set_index("record_id")["confirmed"]
    bor_b = b.bor_intracranial.set_index("record_id")["confirmed"]
    for r in sorted(both & set(bor_a.index) & set(bor_b.index), key=_order):
        x, y = _text(bor_a[r]), _text(bor_b[r])
        if x != y:
            transitions[(x, y)] += 1
            add(r, "BOR", x, y, "confirmed best overall intracranial response", "BOR")
    moved: dict[str, int] = {}
    ea, eb = (e.set_index(["record_id", "endpoint"]) for e in (a.endpoints, b.endpoints))
    for key, name in ENDPOINT_NAMES.items():
        moved[name] = 0
        for r in sorted(both, key=_order):
            if (r, key) not in ea.index or (r, key) not in eb.index:
                continue
            x, y = ea.loc[(r, key)], eb.loc[(r, key)]
            old, new = _event_text(x), _event_text(y)
            if int(x["event"]) != int(y["event"]):
                add(r, name, old, new, "censored → event" if int(y["event"]) else
                    "event → censored", name)
            elif _day(x["end_date"]) != _day(y["end_date"]) or x["reason"] != y["reason"]:
                if (not int(x["event"]) and x["reason"] == y["reason"]
                        and _day(y["end_date"]) > _day(x["end_date"])):
                    moved[name] += 1  # new follow-up only
                    continue
                add(r, name, old, new, "event date changed" if int(x["event"])
                    else "censoring changed", name)
    sa, sb = a.sets.set_index("record_id"), b.sets.set_index("record_id")
    for r in sorted(both & set(sa.index) & set(sb.index), key=_order):
        for col, name in SET_NAMES.items():
            x, y = bool(sa.loc[r, col]), bool(sb.loc[r, col])
            if x != y:
                why = str(sb.loc[r, f"{col}_reason"] if not y else sa.loc[r, f"{col}_reason"])
                add(r, name, "in" if x else "out", "in" if y else "out",
                    ("left: " if x else "joined; before: ") + why, "set")
    frame = pd.DataFrame(rows, columns=["record_id", "site", "endpoint", "old", "new",
                                        "detail", "sources"])
    return frame, moved, transitions


def _order(record: str) -> tuple[int, str]:
    from sgbm_redcap.dictionary.model import record_sort_key

    return record_sort_key(record)  # type: ignore[return-value]


def _text(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and value != value) else str(value)


def _day(value: Any) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _event_text(row: pd.Series) -> str:
    what = "event" if int(row["event"]) else "censored"
    return f"{what} {_day(row['end_date'])} ({row['reason']})"


def _retrospective(values: pd.DataFrame, raw_a: pd.DataFrame, rid: str, dict_a: Dictionary,
                   dict_b: Dictionary, cutoff: date, log_entries: list[dict[str, Any]] | None,
                   since: str) -> pd.DataFrame:
    """Changed or deleted values of rows the older cut held, dated up to its cut-off."""
    cut = cutoff.isoformat()
    sel = values[values["row_in_old"].astype(bool) & (values["old"] != "")]
    sel = sel[~sel["field"].isin(RUNNING_FIELDS)
              & ~((sel["field"] == "vital_status") & (sel["old"] == VitalStatus.ALIVE))]
    row_dates = _row_dates(raw_a, rid, dict_a)
    dated = []
    keep = []
    for r in sel.itertuples(index=False):
        f = dict_a.get(r.field) or dict_b.get(r.field)
        if r.instance:
            day = row_dates.get((r.record_id, r.form, r.instance), "")
        elif f is not None and f.is_date:
            day = str(r.old)[:10]
        else:
            day = ""
        dated.append(day)
        keep.append(day == "" or day <= cut)
    out = sel.assign(dated=dated)[pd.Series(keep, index=sel.index, dtype=bool)].copy()
    out["critical"] = out["field"].isin(CRITICAL_FIELDS)
    out["old_label"] = [_label(dict_a, f, c, v) for f, c, v in zip(
        out["field"], out["column"], out["old"], strict=True)]
    out["new_label"] = [_label(dict_b, f, c, v) for f, c, v in zip(
        out["field"], out["column"], out["new"], strict=True)]
    hidden = out["field"].isin(_identifiers(dict_a) | _identifiers(dict_b))
    out.loc[hidden, ["old", "new", "old_label", "new_label"]] = IDENTIFIER_HIDDEN
    who = [_who(log_entries, r.record_id, r.column, r.field, since)
           for r in out.itertuples(index=False)]
    out["who"] = [w for w, _ in who]
    out["when"] = [t for _, t in who]
    columns = ["record_id", "site", "form", "instance", "field", "column", "old", "new",
               "old_label", "new_label", "dated", "critical", "who", "when"]
    return out[columns].reset_index(drop=True) if len(out) else pd.DataFrame(columns=columns)


def _identifiers(dictionary: Dictionary) -> frozenset[str]:
    return frozenset(f.name for f in dictionary.fields if f.identifier)


def _row_dates(raw: pd.DataFrame, rid: str, dictionary: Dictionary) -> dict[tuple[str, str, str], str]:
    """(record, repeating form, instance) → the row's own date (its form's first date
    field) in ``raw``."""
    out: dict[tuple[str, str, str], str] = {}
    if INSTRUMENT not in raw.columns:
        return out
    for form in set(raw[INSTRUMENT]) - {""}:
        date_field = next((f.name for f in dictionary.form_fields(form)
                           if f.is_date and not f.identifier), None)
        if date_field is None or date_field not in raw.columns:
            continue
        rows = raw[raw[INSTRUMENT] == form]
        for r, inst, d in zip(rows[rid], rows[INSTANCE], rows[date_field], strict=True):
            out[(str(r), form, str(inst))] = str(d)[:10]
    return out


def _who(entries: list[dict[str, Any]] | None, record: str, column: str, name: str,
         since: str) -> tuple[str, str]:
    """(user, time) of the latest log entry of ``record`` that names the field, else of
    the latest update of the record (marked), from the newer cut's log slice."""
    if entries is None:
        return "", ""
    floor = since[:16]
    named, updates = [], []
    for e in entries:
        if str(e.get("record", "")) != record or str(e.get("timestamp", ""))[:16] < floor:
            continue
        details = str(e.get("details", ""))
        if f"{column} = " in details or f"{name} = " in details or f"{name}(" in details:
            named.append(e)
        elif "update" in str(e.get("action", "")).lower():
            updates.append(e)
    if named:
        e = max(named, key=lambda x: str(x.get("timestamp", "")))
        return str(e.get("username", "")), str(e.get("timestamp", ""))
    if updates:
        e = max(updates, key=lambda x: str(x.get("timestamp", "")))
        return f"{e.get('username', '')} (record updated; field not named in the log)", \
            str(e.get("timestamp", ""))
    return "not in the log", ""
